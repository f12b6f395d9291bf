import assert from "node:assert/strict";
import { SshClient } from "../../lib/ssh/client.ts";
import { SshError, SshTimeoutError } from "../../lib/ssh/errors.ts";
import { generateSshKey } from "../../lib/ssh/key.ts";
import { writeKnownHosts } from "../../lib/ssh/known_hosts.ts";
import { forwardedPort } from "../../lib/ssh/forwarded_port.ts";
import { qemuWithForwards } from "./_qemu_forwards.ts";
import { startSshd, type TestSshd } from "./_sshd.ts";

/** A client of the test server, its host key known under `[127.0.0.1]:PORT`. */
async function clientOf(
  sshd: TestSshd,
  options: { multiplex?: boolean; runtimeDir?: string } = {},
): Promise<SshClient> {
  const knownHostsFile = `${sshd.dir}/known_hosts`;
  await writeKnownHosts(knownHostsFile, [sshd.hostKey], { port: sshd.port });
  return new SshClient({
    port: sshd.port,
    user: sshd.user,
    identity: sshd.key.privateKey,
    knownHostsFile,
    ...options,
  });
}

/** The error `run` rejects with, checked to be a `type`. */
async function rejection<E extends Error>(
  run: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E,
): Promise<E> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${error}`);
    return error;
  }
  assert.fail(`expected a ${type.name}, got no error`);
}

/** The ssh processes that are children of this test process. */
async function sshChildren(): Promise<string[]> {
  const output = await new Deno.Command("pgrep", {
    args: ["-a", "-P", String(Deno.pid), "-x", "ssh"],
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n").filter((line) => line !== "");
}

/**
 * Kills the server-side process with exactly this command line, once it shows up: sshd does not
 * kill a remote command when its client goes, and it may start only after the client was killed.
 */
async function killRemote(commandLine: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const output = await new Deno.Command("pkill", { args: ["-f", "-x", commandLine] }).output();
    if (output.success) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const multiplex of [true, false]) {
  const how = multiplex ? "through its ControlMaster" : "with a connection per command";

  Deno.test(`exec ${how} returns the remote exit status with stdout and stderr apart`, async () => {
    await using sshd = await startSshd();
    await using ssh = await clientOf(sshd, { multiplex });
    const result = await ssh.exec("echo out; echo err >&2; exit 3");
    assert.deepEqual(result, { exitCode: 3, signaled: false, stdout: "out\n", stderr: "err\n" });
    // 255 is the remote command's own status here, not a failure of ssh.
    const high = await ssh.exec("echo bye >&2; exit 255");
    assert.deepEqual(high, { exitCode: 255, signaled: false, stdout: "", stderr: "bye\n" });
  });

  Deno.test(`exec ${how} reports a remote command killed by a signal as signaled, not as exit code 255`, async () => {
    await using sshd = await startSshd();
    await using ssh = await clientOf(sshd, { multiplex });
    const killed = await ssh.exec("echo before; kill -TERM $$");
    assert.deepEqual(killed, { exitCode: null, signaled: true, stdout: "before\n", stderr: "" });
    const crashed = await ssh.exec(["sh", "-c", "kill -SEGV $$"]);
    assert.equal(crashed.signaled, true);
    // The shell turns a child's signal into 128 + n: that is an exit status.
    const reaped = await ssh.exec("sh -c 'kill -KILL $$'; echo status $?");
    assert.equal(reaped.exitCode, 0);
    assert.equal(reaped.signaled, false);
    assert.equal(reaped.stdout, "status 137\n");
  });

  Deno.test(`exec ${how} gives the remote command its stdin, text or bytes`, async () => {
    await using sshd = await startSshd();
    await using ssh = await clientOf(sshd, { multiplex });
    assert.equal((await ssh.exec("sort", { stdin: "pear\napple\n" })).stdout, "apple\npear\n");
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) % 256);
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const remote = await ssh.exec("sha256sum", { stdin: bytes });
    assert.equal(remote.stdout, `${hex}  -\n`);
    // Without stdin the command reads an empty input, not this process's.
    assert.equal((await ssh.exec("wc -c")).stdout.trim(), "0");
    // A command that does not read all of its stdin is no failure.
    const head = await ssh.exec("head -c 3", { stdin: bytes });
    assert.equal(head.exitCode, 0);
  });
}

Deno.test("exec quotes an argv for the remote shell and runs a string as a shell line", async () => {
  await using sshd = await startSshd();
  await using ssh = await clientOf(sshd);
  const argv = await ssh.exec(["printf", "%s|", "a b", "it's", "$HOME", "*", ""]);
  assert.equal(argv.stdout, "a b|it's|$HOME|*||");
  const line = await ssh.exec("printf '%s|' $HOME");
  assert.equal(line.stdout, "/root|");
  await assert.rejects(() => ssh.exec("  "), TypeError);
});

Deno.test("exec runs many commands at once over one ControlMaster", async () => {
  await using sshd = await startSshd();
  await using ssh = await clientOf(sshd);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => ssh.exec(`echo ${i}; exit ${i}`)),
  );
  results.forEach((result, i) => {
    assert.equal(result.exitCode, i);
    assert.equal(result.stdout, `${i}\n`);
  });
  const masters = (await sshChildren()).filter((line) => line.includes("ControlMaster=yes"));
  assert.equal(masters.length, 1, "one master serves them all");
});

for (const multiplex of [true, false]) {
  const how = multiplex ? "through its ControlMaster" : "with a connection per command";

  Deno.test(`exec ${how} past its timeout kills its ssh client and rejects with SshTimeoutError`, async () => {
    await using sshd = await startSshd();
    await using ssh = await clientOf(sshd, { multiplex });
    const started = performance.now();
    const error = await rejection(
      () => ssh.exec("sleep 4242", { timeout: 500 }),
      SshTimeoutError,
    );
    assert.equal(error.timeout, 500);
    assert.match(error.message, /"sleep 4242" to finish/);
    assert.ok(performance.now() - started < 3000);
    const left = (await sshChildren()).filter((line) => !line.includes("ControlMaster=yes"));
    assert.deepEqual(left, [], "no ssh client is left");
    await killRemote("sleep 4242");
  });

  Deno.test(`exec ${how} stops at an abort with the signal's reason`, async () => {
    await using sshd = await startSshd();
    await using ssh = await clientOf(sshd, { multiplex });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("enough")), 300);
    await assert.rejects(
      () => ssh.exec("sleep 4343", { signal: controller.signal }),
      (error: Error) => error.message === "enough",
    );
    const left = (await sshChildren()).filter((line) => !line.includes("ControlMaster=yes"));
    assert.deepEqual(left, []);
    await killRemote("sleep 4343");
    await assert.rejects(() => ssh.exec("true", { signal: controller.signal }));
  });
}

Deno.test("close stops the ControlMaster and removes its socket, logs and directory", async () => {
  await using sshd = await startSshd();
  const ssh = await clientOf(sshd);
  await ssh.exec("true");
  const masters = (await sshChildren()).filter((line) => line.includes("ControlMaster=yes"));
  assert.equal(masters.length, 1);
  const dir = /ControlPath=(\S+)\/ssh-[^/]+\.mux/.exec(masters[0])![1];
  assert.ok((await Array.fromAsync(Deno.readDir(dir))).length > 0);
  await ssh.close();
  assert.deepEqual(await sshChildren(), []);
  await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
  await assert.rejects(() => ssh.exec("true"), TypeError);
  await ssh.close();
});

Deno.test("a ControlMaster in a given runtime directory leaves nothing there after close", async () => {
  await using sshd = await startSshd();
  const runtimeDir = await Deno.makeTempDir({ prefix: "vmkit-rt-" });
  try {
    {
      await using ssh = await clientOf(sshd, { runtimeDir });
      await ssh.exec("true");
      assert.ok((await Array.fromAsync(Deno.readDir(runtimeDir))).length >= 2);
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(runtimeDir)), []);
    assert.deepEqual(await sshChildren(), []);
  } finally {
    await Deno.remove(runtimeDir, { recursive: true });
  }
});

Deno.test("exec refuses a server whose host key is not the known one, with SshError failure host-key", async () => {
  await using sshd = await startSshd();
  const other = await generateSshKey(sshd.dir, { name: "other_host" });
  const knownHostsFile = `${sshd.dir}/wrong_known_hosts`;
  await writeKnownHosts(knownHostsFile, [other.publicKey], { port: sshd.port });
  for (const multiplex of [true, false]) {
    await using ssh = new SshClient({
      port: sshd.port,
      user: sshd.user,
      identity: sshd.key.privateKey,
      knownHostsFile,
      multiplex,
    });
    const error = await rejection(() => ssh.exec("touch /tmp/should-not-run"), SshError);
    const e = error;
    assert.equal(e.failure, "host-key");
    assert.match(e.messages, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    assert.match(
      e.message,
      /^Cannot run "touch \/tmp\/should-not-run" over ssh to root@127\.0\.0\.1:/,
    );
    assert.match(e.message, /learn it again/);
    assert.equal(e.exitCode, 255);
  }
  assert.deepEqual(await sshChildren(), []);
});

Deno.test("exec through a HostKeyAlias finds the key whatever the port, and refuses an unknown alias", async () => {
  await using sshd = await startSshd();
  const knownHostsFile = `${sshd.dir}/alias_known_hosts`;
  await writeKnownHosts(knownHostsFile, [sshd.hostKey], { hostKeyAlias: "vmkit-test-guest" });
  const options = {
    port: sshd.port,
    user: sshd.user,
    identity: sshd.key.privateKey,
    knownHostsFile,
  };
  {
    await using ssh = new SshClient({ ...options, hostKeyAlias: "vmkit-test-guest" });
    assert.equal((await ssh.exec("echo ok")).stdout, "ok\n");
  }
  await using unknown = new SshClient({ ...options, hostKeyAlias: "vmkit-other-guest" });
  const error = await rejection(() => unknown.exec("true"), SshError);
  assert.equal(error.failure, "host-key");
  assert.match(error.messages, /No ED25519 host key is known for vmkit-other-guest/);
});

Deno.test("exec fails with SshError failure auth when the server does not accept the key", async () => {
  await using sshd = await startSshd();
  const stranger = await generateSshKey(sshd.dir, { name: "stranger" });
  await writeKnownHosts(`${sshd.dir}/known_hosts`, [sshd.hostKey], { port: sshd.port });
  await using ssh = new SshClient({
    port: sshd.port,
    user: sshd.user,
    identity: stranger.privateKey,
    knownHostsFile: `${sshd.dir}/known_hosts`,
  });
  const error = await rejection(() => ssh.exec("true"), SshError);
  assert.equal(error.failure, "auth");
  assert.match(error.messages, /Permission denied \(publickey\)/);
});

Deno.test("exec fails with SshError failure connect where nothing listens", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const key = await generateSshKey(dir);
    for (const multiplex of [true, false]) {
      await using ssh = new SshClient({
        port,
        user: "root",
        identity: key.privateKey,
        knownHostsFile: `${dir}/known_hosts`,
        multiplex,
      });
      const error = await rejection(() => ssh.exec("true"), SshError);
      assert.equal(error.failure, "connect");
      assert.match(error.messages, /Connection refused/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("command() gives a line that runs as pasted into sh -c", async () => {
  await using sshd = await startSshd();
  // A key path with a space and a quote, which the line must quote.
  const dir = `${sshd.dir}/it's 100% "here"`;
  await Deno.mkdir(dir);
  const key = await generateSshKey(dir, { comment: "pasted" });
  await Deno.writeTextFile(`${sshd.dir}/authorized_keys`, `${key.publicKey}\n`, { append: true });
  await writeKnownHosts(`${dir}/known_hosts`, [sshd.hostKey], { port: sshd.port });
  await using ssh = new SshClient({
    port: sshd.port,
    user: sshd.user,
    identity: key.privateKey,
    knownHostsFile: `${dir}/known_hosts`,
  });
  const line = ssh.command(["printf", "%s;", "pasted line", "$(id -un)"]);
  assert.match(
    line,
    /^ssh -F none -o 'IdentityFile=".*it'\\''s 100%% \\"here\\"\/id_ed25519"' -p \d+ /,
  );
  assert.match(line, / -o StrictHostKeyChecking=yes /);
  assert.match(line, / -o IdentitiesOnly=yes /);
  const output = await new Deno.Command("sh", {
    args: ["-c", line],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  assert.equal(new TextDecoder().decode(output.stdout), "pasted line;$(id -un);");
  const shellLine = await new Deno.Command("sh", {
    args: ["-c", ssh.command("id -un")],
    stdin: "null",
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(shellLine.stdout), "root\n");
});

Deno.test("shell runs a session on the inherited stdin and stdout and returns its exit status", async () => {
  await using sshd = await startSshd();
  await using ssh = await clientOf(sshd);
  // The session inherits this process's stdio; a child Deno gives it a pipe to read.
  const script = `
    import { SshClient } from ${
    JSON.stringify(new URL("../../lib/ssh/client.ts", import.meta.url).href)
  };
    await using ssh = new SshClient(${
    JSON.stringify({
      port: sshd.port,
      user: sshd.user,
      identity: sshd.key.privateKey,
      knownHostsFile: `${sshd.dir}/known_hosts`,
    })
  });
    Deno.exit(await ssh.shell());
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("echo in-the-shell $((6 * 7))\nexit 7\n"));
  await writer.close();
  const output = await child.output();
  assert.equal(output.code, 7);
  assert.match(new TextDecoder().decode(output.stdout), /in-the-shell 42/);
  void ssh;
});

Deno.test("waitUntilReady returns the server's SSH banner", async () => {
  await using sshd = await startSshd();
  await using ssh = await clientOf(sshd);
  assert.match(await ssh.waitUntilReady({ timeout: 5000 }), /^SSH-2\.0-OpenSSH_/);
});

/** A client whose key and known_hosts do not exist: enough to wait for a banner. */
async function keylessClient(port: number): Promise<{ ssh: SshClient } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const ssh = new SshClient({
    port,
    user: "root",
    identity: `${dir}/none`,
    knownHostsFile: `${dir}/none`,
  });
  return {
    ssh,
    async [Symbol.asyncDispose]() {
      await ssh.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * A server on 127.0.0.1 that hands each connection, numbered from 1, to `serve`, and a keyless
 * client of it. Disposing closes the server and every connection.
 */
async function bannerPeer(
  serve: (conn: Deno.Conn, n: number) => void | Promise<void>,
): Promise<{ ssh: SshClient; conns: Deno.Conn[] } & AsyncDisposable> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      await serve(conn, conns.length);
    }
  })();
  const client = await keylessClient(listener.addr.port);
  return {
    ssh: client.ssh,
    conns,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      listener.close();
      await serving.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
    },
  };
}

const BANNER = new TextEncoder().encode("SSH-2.0-Test_1.0\r\n");

Deno.test("waitUntilReady takes a port that accepts and closes for not ready, until a banner comes", async () => {
  // What QEMU's user network does on a forward to a guest port nobody listens on.
  let bannerAfter = Infinity;
  let readyAt = 0;
  await using peer = await bannerPeer(async (conn, n) => {
    if (n >= bannerAfter) await conn.write(BANNER);
    conn.close();
  });
  const error = await rejection(() => peer.ssh.waitUntilReady({ timeout: 400 }), SshTimeoutError);
  assert.match(error.message, /closed before the server sent an SSH banner/);
  assert.ok(peer.conns.length >= 3, `it tried again (${peer.conns.length} connections)`);
  const waiting = peer.ssh.waitUntilReady({ timeout: 5000 });
  setTimeout(() => {
    bannerAfter = peer.conns.length + 1;
    readyAt = performance.now();
  }, 300);
  assert.equal(await waiting, "SSH-2.0-Test_1.0");
  const latency = performance.now() - readyAt;
  assert.ok(latency < 1000, `it noticed within a second (${latency.toFixed(0)} ms)`);
});

Deno.test("waitUntilReady opens another connection beside one that gets no answer, as QEMU's user network holds one the guest never saw", async () => {
  // The first connection is accepted and left silent: what QEMU does with a forward made
  // before the guest's network is up. Later ones get the banner.
  await using peer = await bannerPeer(async (conn, n) => {
    if (n > 1) await conn.write(BANNER);
  });
  assert.equal(await peer.ssh.waitUntilReady({ timeout: 5000 }), "SSH-2.0-Test_1.0");
  assert.equal(peer.conns.length, 2);
  // And it closed the silent one.
  assert.equal(await peer.conns[0].read(new Uint8Array(1)), null);
});

Deno.test("waitUntilReady waits on a silent connection once one was closed: the path works and sshd is starting", async () => {
  // Closed first (nothing listens yet), then a server slow to send its banner (1.5 s, where a
  // connection that nothing has answered gets a sibling after 1 s).
  await using peer = await bannerPeer((conn, n) => {
    if (n === 1) conn.close();
    else setTimeout(() => conn.write(BANNER).catch(() => {}), 1500);
  });
  assert.equal(await peer.ssh.waitUntilReady({ timeout: 5000 }), "SSH-2.0-Test_1.0");
  assert.equal(peer.conns.length, 2, "no connection beside the slow one");
});

Deno.test("waitUntilReady sends a stopped guest fresh connections through QEMU's user network, and its timeout says none was answered", async () => {
  // QEMU runs no guest (-S): each connection to the forward stays SYN_SENT in its user network.
  await using qemu = await qemuWithForwards([
    JSON.stringify({ type: "user", id: "net0", hostfwd: [{ str: "tcp:127.0.0.1:0-:22" }] }),
  ]);
  await using client = await keylessClient(await forwardedPort(qemu.qmp, { guestPort: 22 }));
  const error = await rejection(
    () => client.ssh.waitUntilReady({ timeout: 3500 }),
    SshTimeoutError,
  );
  assert.match(
    error.message,
    /a connection got no answer in 2 s \(through QEMU's user network: the guest's network may not be up yet\)/,
  );
  // Tried at 0, 1 and 3 s: QEMU holds each, SYN_SENT, though the host side is closed.
  const pending = (await qemu.qmp.hmp("info usernet")).match(/TCP\[SYN_SENT\]/g) ?? [];
  assert.equal(pending.length, 3);
});

Deno.test("the SshClient constructor refuses bad options with the value and what to do", () => {
  const base = { user: "root", identity: "/k", knownHostsFile: "/kh" };
  assert.throws(() => new SshClient({ ...base, port: 0 }), /port 0: use a port from 1 to 65535/);
  assert.throws(() => new SshClient({ ...base, user: "a b" }), /user "a b"/);
  assert.throws(() => new SshClient({ ...base, identity: "" }), /identity "": give a file path/);
  assert.throws(
    () => new SshClient({ ...base, runtimeDir: `/tmp/${"x".repeat(90)}` }),
    /unix socket name/,
  );
});
