import assert from "node:assert/strict";
import { QmpClient, QmpDisconnectedError, QmpError, QmpTimeoutError } from "../../mod.ts";
import { startQemuPeer } from "./_qemu.ts";

Deno.test("QmpClient negotiates oob and reports the QEMU version", async () => {
  await using peer = await startQemuPeer();
  await using qmp = await QmpClient.connect(peer.address, { timeout: 5000 });
  assert.equal(qmp.version.major, 7);
  assert.match(qmp.version.package, /Debian/);
  assert.deepEqual(qmp.capabilities, ["oob"]);
  assert.deepEqual(await qmp.execute("query-status"), {
    status: "running",
    singlestep: false,
    running: true,
  });
  assert.match(await qmp.hmp("info version"), /^7\.2/);
});

Deno.test("QmpClient keeps QEMU's error class, description and the command sent", async () => {
  await using peer = await startQemuPeer();
  await using qmp = await QmpClient.connect(peer.address);
  const error = await qmp.execute("no-such-command", { x: 1 }).catch((e) => e);
  assert.ok(error instanceof QmpError);
  assert.equal(error.errorClass, "CommandNotFound");
  assert.match(error.desc, /no-such-command/);
  assert.deepEqual(error.command, { execute: "no-such-command", arguments: { x: 1 } });
  // @ts-expect-error: "stop" takes no arguments; QEMU says so at run time too
  const typed = await qmp.execute("stop", { bogus: true }).catch((e) => e);
  assert.ok(typed instanceof QmpError && typed.errorClass === "GenericError", String(typed));
  assert.equal((await qmp.execute("query-status")).status, "running");
});

Deno.test("QmpClient matches 1000 concurrent replies by id", async () => {
  await using peer = await startQemuPeer();
  await using qmp = await QmpClient.connect(peer.address);
  const names = ["query-status", "query-version", "query-name"];
  const replies = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => qmp.execute(names[i % 3])),
  );
  replies.forEach((reply, i) => {
    const keys = Object.keys(reply as object);
    if (i % 3 === 0) assert.ok(keys.includes("status"));
    if (i % 3 === 1) assert.ok(keys.includes("qemu"));
  });
});

Deno.test("QmpClient rejects every pending command within a second when QEMU is killed", async () => {
  await using peer = await startQemuPeer();
  const qmp = await QmpClient.connect(peer.address);
  const pending = Array.from(
    { length: 1000 },
    () => qmp.execute("query-status").then(() => "ok", (error) => error),
  );
  // Let the first replies arrive, then kill QEMU while most are still pending.
  await new Promise((resolve) => setTimeout(resolve, 1));
  peer.process.kill("SIGKILL");
  const killed = performance.now();
  const results = await Promise.all(pending);
  assert.ok(performance.now() - killed < 1000);
  const errors = results.filter((r) => r !== "ok");
  assert.ok(errors.length > 0, "some commands were still pending");
  for (const error of errors) {
    assert.ok(error instanceof QmpDisconnectedError, String(error));
    assert.ok(error.cause !== undefined);
  }
  assert.ok((await qmp.closed) instanceof QmpDisconnectedError);
  await assert.rejects(() => qmp.execute("query-status"), QmpDisconnectedError);
});

Deno.test("QmpClient delivers events to listeners and waitForEvent, and executeAndWait sees an event sent before the reply", async () => {
  await using peer = await startQemuPeer();
  await using qmp = await QmpClient.connect(peer.address);
  const stream = qmp.events({ names: ["STOP", "RESUME"] });
  const stopped = qmp.waitForEvent("STOP", { timeout: 5000 });
  await qmp.execute("stop");
  assert.equal((await stopped).event, "STOP");
  const { event } = await qmp.executeAndWait("cont", undefined, { event: "RESUME", timeout: 5000 });
  assert.equal(event.event, "RESUME");
  const first = await stream.next();
  const second = await stream.next();
  assert.deepEqual([first.value?.event, second.value?.event], ["STOP", "RESUME"]);
  await stream.return();
  await assert.rejects(() => qmp.waitForEvent("SHUTDOWN", { timeout: 50 }), QmpTimeoutError);
  const matched = qmp.waitForEvent("STOP", { match: { never: true }, timeout: 200 });
  await qmp.execute("stop");
  await assert.rejects(() => matched, QmpTimeoutError);
});

Deno.test("QmpClient resolves quit even when the EOF races its reply", async () => {
  await using peer = await startQemuPeer();
  const qmp = await QmpClient.connect(peer.address);
  const results = await Promise.allSettled([qmp.execute("quit"), qmp.execute("query-status")]);
  assert.equal(results[0].status, "fulfilled");
  assert.ok((await peer.process.status).success);
  await qmp.close();
});

Deno.test("QmpClient connects over TCP", async () => {
  await using peer = await startQemuPeer({ tcp: true });
  await using qmp = await QmpClient.connect(peer.address, { timeout: 5000 });
  assert.equal((await qmp.execute("query-status")).status, "running");
});

Deno.test("QmpClient.connect names the socket it cannot reach and checks the address", async () => {
  await assert.rejects(
    () => QmpClient.connect("/nonexistent/qmp.sock"),
    /Cannot connect to QMP at "\/nonexistent\/qmp.sock"/,
  );
  await assert.rejects(() => QmpClient.connect(""), TypeError);
  await assert.rejects(() => QmpClient.connect("tcp:localhost"), /expected tcp:HOST:PORT/);
  await assert.rejects(() => QmpClient.connect("127.0.0.1:70000"), /port 70000/);
  // What people pass by mistake is named, with what to do.
  await assert.rejects(
    () => QmpClient.connect("/etc/hostname"),
    /^ConnectionRefused: Cannot connect to QMP at "\/etc\/hostname": "\/etc\/hostname" is not a socket \(it is a regular file\)/,
  );
  await assert.rejects(
    () => QmpClient.connect("localhost:notaport"),
    /Cannot connect to QMP at "localhost:notaport": no socket "localhost:notaport" exists, and "notaport" is not a port number/,
  );
  const dir = await Deno.makeTempDir();
  try {
    // The socket of a QEMU that was killed stays behind, with nothing listening on it.
    const stale = `${dir}/dead.sock`;
    const qemu = new Deno.Command("qemu-system-x86_64", {
      args: ["-machine", "none", "-display", "none", "-qmp", `unix:${stale},server=on,wait=off`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    while (!(await Deno.lstat(stale).catch(() => undefined))?.isSocket) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    qemu.kill("SIGKILL");
    await qemu.status;
    await assert.rejects(
      () => QmpClient.connect(stale),
      /nothing listens on socket ".*dead\.sock" \(the QEMU that made it has exited\)/,
    );
    // A peer that is not QMP: what it sent is shown.
    using ssh = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    (async () => {
      for await (const conn of ssh) {
        await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n"));
        conn.close();
      }
    })().catch(() => {});
    await assert.rejects(
      () => QmpClient.connect(`127.0.0.1:${(ssh.addr as Deno.NetAddr).port}`),
      /: the peer closed it without a QMP greeting after sending "SSH-2\.0-OpenSSH_9\.2\\r" \(is it a QEMU QMP socket\?\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
