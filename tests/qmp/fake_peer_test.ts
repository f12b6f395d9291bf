// A fake QMP peer, for what real QEMU cannot produce: split frames, garbage, huge lines, replies
// with unknown ids, replies that never come.
import assert from "node:assert/strict";
import { QmpClient, QmpEventOverflowError, QmpTimeoutError } from "../../mod.ts";

const GREETING = JSON.stringify({
  QMP: {
    version: { qemu: { major: 9, minor: 1, micro: 0 }, package: "fake" },
    capabilities: ["oob"],
  },
});
const encoder = new TextEncoder();

/** Runs `script` as the QEMU side of a unix socket, and a connected client for the test. */
async function withPeer(
  script: (conn: Deno.Conn, commands: AsyncGenerator<Record<string, unknown>>) => Promise<void>,
  test: (qmp: QmpClient) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/qmp.sock` });
  const peer = (async () => {
    const conn = await listener.accept();
    async function* commands() {
      let text = "";
      const buffer = new Uint8Array(65536);
      while (true) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) return;
        text += new TextDecoder().decode(buffer.subarray(0, n));
        let nl;
        while ((nl = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          yield JSON.parse(line);
        }
      }
    }
    try {
      await script(conn, commands());
    } finally {
      try {
        conn.close();
      } catch {
        // closed by the client
      }
    }
  })();
  try {
    const qmp = await QmpClient.connect(`${dir}/qmp.sock`, { timeout: 5000 });
    try {
      await test(qmp);
    } finally {
      await qmp.close();
    }
  } finally {
    listener.close();
    await peer.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function send(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function handshake(conn: Deno.Conn, commands: AsyncGenerator<Record<string, unknown>>) {
  await send(conn, "garbage before the greeting\n" + GREETING + "\n");
  const caps = (await commands.next()).value!;
  assert.equal(caps.execute, "qmp_capabilities");
  assert.deepEqual(caps.arguments, { enable: ["oob"] });
  await send(conn, JSON.stringify({ return: {}, id: caps.id }) + "\n");
}

Deno.test("QmpClient reassembles split frames and splits several messages per chunk", async () => {
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    const a = (await commands.next()).value!;
    const b = (await commands.next()).value!;
    const event = JSON.stringify({ event: "STOP", timestamp: { seconds: 1, microseconds: 2 } });
    const all = `${JSON.stringify({ return: "b", id: b.id })}\n${event}\n${
      JSON.stringify({ return: "a", id: a.id })
    }\n`;
    for (const ch of all) await send(conn, ch); // one byte at a time
    const c = (await commands.next()).value!;
    const d = (await commands.next()).value!;
    await send(
      conn,
      `${JSON.stringify({ return: "c", id: c.id })}\n${
        JSON.stringify({ return: "d", id: d.id })
      }\n`,
    );
    await commands.next();
  }, async (qmp) => {
    assert.equal(qmp.version.major, 9);
    const events = qmp.events();
    assert.deepEqual(await Promise.all([qmp.execute("a"), qmp.execute("b")]), ["a", "b"]);
    assert.equal((await events.next()).value?.event, "STOP");
    assert.deepEqual(await Promise.all([qmp.execute("c"), qmp.execute("d")]), ["c", "d"]);
  });
});

Deno.test("QmpClient skips garbage lines and replies with unknown ids", async () => {
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    const a = (await commands.next()).value!;
    await send(conn, 'not json\n[1,2]\n{"neither":1}\n');
    await send(conn, JSON.stringify({ return: "stale", id: 999999 }) + "\n");
    await send(conn, JSON.stringify({ return: "a", id: a.id }) + "\n");
    await commands.next();
  }, async (qmp) => {
    assert.equal(await qmp.execute("a"), "a");
    assert.equal(qmp.unmatchedReplies, 1);
    assert.equal(qmp.ignoredLines, 4); // the line before the greeting, and three garbage lines
  });
});

Deno.test("QmpClient reads a 50 MB reply line", async () => {
  const big = "x".repeat(50 * 1024 * 1024);
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    const a = (await commands.next()).value!;
    await send(conn, JSON.stringify({ return: big, id: a.id }) + "\n");
    await commands.next();
  }, async (qmp) => {
    const reply = await qmp.execute("big") as string;
    assert.equal(reply.length, big.length);
  });
});

Deno.test("QmpClient times out a reply that never comes, and keeps working", async () => {
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    await commands.next(); // never answered
    const b = (await commands.next()).value!;
    await send(conn, JSON.stringify({ return: "b", id: b.id }) + "\n");
    await commands.next();
  }, async (qmp) => {
    const error = await qmp.execute("silent", undefined, { timeout: 100 }).catch((e) => e);
    assert.ok(error instanceof QmpTimeoutError);
    assert.equal(error.timeout, 100);
    const controller = new AbortController();
    const aborted = qmp.execute("b", undefined, { signal: controller.signal });
    controller.abort(new Error("cancelled"));
    await assert.rejects(() => aborted, /cancelled/);
  });
});

Deno.test("QmpClient reuses the ids of answered commands, never one whose reply may still come", async () => {
  const ids: unknown[] = [];
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    for (let i = 0; i < 3; i++) {
      const command = (await commands.next()).value!;
      ids.push(command.id);
      if (command.execute === "silent") continue; // times out on the client
      if (command.execute === "after") {
        // The reply to the timed-out command comes late: it must not answer this one.
        await send(conn, JSON.stringify({ return: "late", id: ids[1] }) + "\n");
      }
      await send(conn, JSON.stringify({ return: command.execute, id: command.id }) + "\n");
    }
    await commands.next();
  }, async (qmp) => {
    assert.equal(await qmp.execute("first"), "first");
    await assert.rejects(qmp.execute("silent", undefined, { timeout: 100 }), QmpTimeoutError);
    assert.equal(await qmp.execute("after"), "after");
    assert.equal(ids[1], ids[0], "the answered command's id is used again");
    assert.notEqual(ids[2], ids[1], "the timed-out command's id is not");
    assert.equal(qmp.unmatchedReplies, 1);
  });
});

Deno.test("A slow event listener loses events by its policy without blocking replies", async () => {
  await withPeer(async (conn, commands) => {
    await handshake(conn, commands);
    const a = (await commands.next()).value!;
    let burst = "";
    for (let i = 0; i < 100; i++) {
      burst +=
        JSON.stringify({ event: "TICK", data: { i }, timestamp: { seconds: i, microseconds: 0 } }) +
        "\n";
    }
    await send(conn, burst + JSON.stringify({ return: "a", id: a.id }) + "\n");
    await commands.next();
  }, async (qmp) => {
    const oldest = qmp.events({ capacity: 10 });
    const newest = qmp.events({ capacity: 10, overflow: "drop-newest" });
    const strict = qmp.events({ capacity: 10, overflow: "error" });
    assert.equal(await qmp.execute("a"), "a");
    assert.equal(oldest.dropped, 90);
    assert.deepEqual((await oldest.next()).value?.data, { i: 90 });
    assert.deepEqual((await newest.next()).value?.data, { i: 0 });
    for (let i = 0; i < 10; i++) await strict.next();
    await assert.rejects(() => strict.next(), QmpEventOverflowError);
  });
});
