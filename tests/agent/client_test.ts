import assert from "node:assert/strict";
import {
  GuestAgent,
  GuestAgentError,
  GuestAgentTimeoutError,
  GuestAgentUnavailableError,
} from "../../mod.ts";
import { startHostAgent } from "./_host_agent.ts";

async function withAgent(use: (agent: GuestAgent, dir: string) => Promise<void>): Promise<void> {
  await using host = await startHostAgent();
  await host.connect().then((conn) => conn.close());
  await using agent = await GuestAgent.connect(host.socket);
  await use(agent, host.dir);
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

Deno.test("GuestAgent.exec returns exit codes, output, input and environment from the real qemu-ga", async () => {
  await withAgent(async (agent) => {
    const ok = await agent.exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual([ok.exitCode, ok.signal, ok.stdout, ok.stderr, ok.truncated], [
      3,
      null,
      "out\n",
      "err\n",
      false,
    ]);
    assert.equal((await agent.exec("tr a-z A-Z", { stdin: "hello" })).stdout, "HELLO");
    const env = await agent.exec(["/usr/bin/env"], { env: { ONLY: "this" } });
    assert.equal(env.stdout, "ONLY=this\n");
    const quiet = await agent.exec(["echo", "x"], { output: "none" });
    assert.equal(quiet.stdout, "");
    await assert.rejects(agent.exec(["vmkit-no-such-program"]), GuestAgentError);
    await assert.rejects(agent.exec([]), /non-empty array/);
    await assert.rejects(agent.exec(["echo"], { env: { "A B": "x" } }), /variable "A B"/);
    await assert.rejects(agent.exec(["echo"], { output: "merged" }), /8\.1 or later/);
  });
});

Deno.test("GuestAgent.exec reports a program killed by a signal as that signal, never as exit 0", async () => {
  await withAgent(async (agent) => {
    const killed = await agent.exec(["sh", "-c", "kill -KILL $$"]);
    assert.equal(killed.exitCode, null);
    assert.equal(killed.signal, "SIGKILL");
    const segv = await agent.exec(["sh", "-c", "kill -SEGV $$"]);
    assert.equal(segv.signal, "SIGSEGV");
  });
});

Deno.test("GuestAgent.exec past its timeout kills the program and says so", async () => {
  await withAgent(async (agent) => {
    const started = performance.now();
    const error = await agent.exec(["sleep", "30"], { timeout: 500 }).catch((e) => e);
    assert.ok(error instanceof GuestAgentTimeoutError, String(error));
    assert.match(error.message, /"sleep" \(pid (\d+)\) to exit in the guest: it was killed/);
    assert.ok(performance.now() - started < 5000);
    const pid = Number(/pid (\d+)/.exec(error.message)![1]);
    assert.equal(alive(pid), false, "the program was killed");
    // The agent goes on answering.
    assert.equal((await agent.exec(["true"])).exitCode, 0);
  });
});

Deno.test("GuestAgent files: whole files, modes, chunked copies both ways, and a missing path named", async () => {
  await withAgent(async (agent, dir) => {
    const bytes = crypto.getRandomValues(new Uint8Array(65536)).map((b, i) => b ^ i);
    const big = new Uint8Array(5 * 1024 * 1024 + 17);
    for (let at = 0; at < big.length; at += bytes.length) {
      big.set(bytes.subarray(0, big.length - at), at);
    }
    await agent.writeFile(`${dir}/big`, big, { chunkSize: 1024 * 1024, mode: 0o750 });
    assert.deepEqual(await Deno.readFile(`${dir}/big`), big);
    assert.equal((await Deno.stat(`${dir}/big`)).mode! & 0o777, 0o750);
    assert.deepEqual(await agent.readFile(`${dir}/big`, { chunkSize: 1024 * 1024 }), big);
    await agent.writeFile(`${dir}/text`, "one\n");
    await agent.writeFile(`${dir}/text`, "two\n", { append: true });
    assert.equal(await agent.readTextFile(`${dir}/text`), "one\ntwo\n");
    await agent.writeFile(`${dir}/empty`, "");
    assert.equal((await agent.readFile(`${dir}/empty`)).length, 0);

    await Deno.writeFile(`${dir}/host.bin`, big, { mode: 0o755 });
    await Deno.chmod(`${dir}/host.bin`, 0o755);
    assert.equal(
      await agent.copyIn(`${dir}/host.bin`, `${dir}/in.bin`, { chunkSize: 1 << 20 }),
      big.length,
    );
    assert.deepEqual(await Deno.readFile(`${dir}/in.bin`), big);
    assert.equal((await Deno.stat(`${dir}/in.bin`)).mode! & 0o777, 0o755, "the host file's mode");
    assert.equal(await agent.copyOut(`${dir}/in.bin`, `${dir}/out.bin`), big.length);
    assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), big);

    await assert.rejects(agent.readFile(`${dir}/nope`), (error: unknown) => {
      assert.ok(error instanceof Deno.errors.NotFound);
      assert.match(
        error.message,
        /Cannot read guest file ".*\/nope" in the guest: it does not exist/,
      );
      return true;
    });
    await assert.rejects(agent.copyOut(`${dir}/nope`, `${dir}/never`), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${dir}/never.vmkit-part`), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${dir}/never`), Deno.errors.NotFound);
    await assert.rejects(agent.writeFile("relative", "x"), /absolute path/);
    await assert.rejects(agent.writeFile(`${dir}/x`, "x", { mode: 0o10000 }), /mode/);
    await assert.rejects(
      agent.copyIn(`${dir}/no-host-file`, `${dir}/y`),
      /does not exist on the host/,
    );
  });
});

Deno.test("GuestAgent re-syncs after a timeout and drops the late reply", async () => {
  await using host = await startHostAgent();
  await host.connect().then((conn) => conn.close());
  await using agent = await GuestAgent.connect(host.socket);
  await agent.ping();
  const syncs = agent.syncs;
  // A stopped agent answers late: the command times out here, and its reply comes after.
  host.signal("SIGSTOP");
  await assert.rejects(
    agent.execute("guest-get-host-name", undefined, { timeout: 300 }),
    GuestAgentTimeoutError,
  );
  host.signal("SIGCONT");
  await agent.ping();
  assert.equal(agent.syncs, syncs + 1, "one more sync after the timeout");
  assert.ok(agent.staleReplies >= 1, "the late reply was dropped");
  assert.equal((await agent.exec(["echo", "in step"])).stdout, "in step\n");
});

Deno.test("GuestAgent fails every wait at once when the agent's connection ends", async () => {
  await using host = await startHostAgent();
  await host.connect().then((conn) => conn.close());
  const agent = await GuestAgent.connect(host.socket);
  await agent.ping();
  await host[Symbol.asyncDispose]();
  const error = await agent.ping({ timeout: 10_000 }).catch((e) => e);
  assert.ok(error instanceof GuestAgentUnavailableError, String(error));
  assert.match(error.message, /connection to the agent's socket (closed|failed)/);
  await agent.close();
});
