import assert from "node:assert/strict";
import { AGENT_PORT_NAME } from "../../lib/guest/default_init.ts";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { scratchDir } from "../vm/_disks.ts";

/** A raw QGA client: one JSON command a line, one JSON reply a line. */
class RawAgent implements AsyncDisposable {
  #conn: Deno.UnixConn;
  #buffer = "";
  #reader: ReadableStreamDefaultReader<string>;

  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
    this.#reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
  }

  async #line(timeout: number): Promise<string> {
    const deadline = Date.now() + timeout;
    while (!this.#buffer.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no reply from the agent in time")),
            Math.max(0, deadline - Date.now()),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (next.done) throw new Error("the agent's socket closed");
      this.#buffer += next.value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }

  /** Sends a command and returns its reply, skipping blank lines and the 0xff delimiter. */
  async execute(
    command: string,
    args?: Record<string, unknown>,
    timeout = 20_000,
  ): Promise<Record<string, unknown>> {
    await this.send(command, args);
    for (;;) {
      const line = (await this.#line(timeout)).replace(/^[\xff\ufffd]/, "").trim();
      if (line !== "") return JSON.parse(line);
    }
  }

  async send(command: string, args?: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(
      args === undefined ? { execute: command } : { execute: command, arguments: args },
    );
    await this.#conn.write(new TextEncoder().encode(`${text}\n`));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    try {
      this.#conn.close();
    } catch {
      // Closed by the reader's cancel.
    }
  }
}

async function hostAgentVersion(): Promise<string> {
  const { stdout } = await new Deno.Command("/usr/sbin/qemu-ga", { args: ["--version"] }).output();
  return /QEMU Guest Agent (\S+)/.exec(new TextDecoder().decode(stdout))![1];
}

const decode = (base64: string) =>
  new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));

Deno.test("the tiny guest's agent answers as soon as the guest is ready, runs commands, and powers the guest off", async () => {
  const guest = await tinyGuest("x86_64", { agent: true });
  assert.equal(guest.agent, true);
  await using dir = await scratchDir();
  const socket = `${dir.path}/qga.sock`;
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .device({
      kind: "virtio-serial-port",
      name: AGENT_PORT_NAME,
      chardev: { backend: "socket", path: socket, server: true },
    })
    .launch({ timeout: 60_000 });
  await machine.console.expect(guest.readyLine, { timeout: 60_000 });
  // Ready means the agent has its port open.
  const open = await machine.console.exec("ls -l /proc/$(pidof qemu-ga)/fd | grep -c vport");
  assert.equal(open.output, "1");
  await using agent = new RawAgent(await Deno.connect({ transport: "unix", path: socket }));
  // Resynchronise as QGA clients do, with a delimiter byte before the reply.
  const sync = await agent.execute("guest-sync-delimited", { id: 4242 });
  assert.deepEqual(sync, { return: 4242 });
  assert.deepEqual(await agent.execute("guest-ping"), { return: {} });

  const info = (await agent.execute("guest-info")).return as { version: string };
  assert.equal(info.version, await hostAgentVersion());

  const started = await agent.execute("guest-exec", {
    path: "/bin/sh",
    arg: ["-c", "echo hello from $(hostname); echo oops >&2; exit 7"],
    "capture-output": true,
  });
  const pid = (started.return as { pid: number }).pid;
  assert.ok(Number.isInteger(pid) && pid > 1, JSON.stringify(started));
  let status: Record<string, unknown> = {};
  for (let tries = 0; tries < 200; tries++) {
    status = (await agent.execute("guest-exec-status", { pid })).return as Record<string, unknown>;
    if (status.exited) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(status.exited, true);
  assert.equal(status.exitcode, 7);
  assert.equal(decode(status["out-data"] as string), "hello from vmkit\n");
  assert.equal(decode(status["err-data"] as string), "oops\n");

  const os = (await agent.execute("guest-get-osinfo")).return as Record<string, string>;
  assert.equal(os.id, "vmkit-tiny");
  assert.equal(os["pretty-name"], "vmkit tiny guest (busybox)");
  assert.equal(os["kernel-release"], (await machine.console.exec("uname -r")).output);

  // Files: written by the agent, read by the shell, and read back by the agent.
  const handle = (await agent.execute("guest-file-open", { path: "/tmp/agent.txt", mode: "w" }))
    .return as number;
  const written = await agent.execute("guest-file-write", {
    handle,
    "buf-b64": btoa("written by the agent\n"),
  });
  assert.equal((written.return as { count: number }).count, 21);
  assert.deepEqual(await agent.execute("guest-file-close", { handle }), { return: {} });
  assert.equal((await machine.console.exec("cat /tmp/agent.txt")).output, "written by the agent");
  const reading = (await agent.execute("guest-file-open", { path: "/tmp/agent.txt" }))
    .return as number;
  const read = (await agent.execute("guest-file-read", { handle: reading })).return as {
    "buf-b64": string;
    eof: boolean;
  };
  assert.equal(decode(read["buf-b64"]), "written by the agent\n");
  await agent.execute("guest-file-close", { handle: reading });

  const interfaces = (await agent.execute("guest-network-get-interfaces")).return as {
    name: string;
    "ip-addresses"?: { "ip-address": string }[];
  }[];
  assert.ok(interfaces.some((i) => i.name === "lo"), JSON.stringify(interfaces));

  // Freezing: the tiny guest's filesystems (rootfs, tmpfs) cannot freeze, so none is frozen.
  assert.deepEqual(await agent.execute("guest-fsfreeze-status"), { return: "thawed" });
  assert.deepEqual(await agent.execute("guest-fsfreeze-freeze"), { return: 0 });
  assert.deepEqual(await agent.execute("guest-fsfreeze-thaw"), { return: 0 });

  // The clock: set to a known time, seen by the shell.
  const time = Date.UTC(2030, 0, 2, 3, 4, 5);
  const set = await agent.execute("guest-set-time", { time: time * 1_000_000 });
  assert.deepEqual(set, { return: {} });
  const now = Number((await machine.console.exec("date +%s")).output) * 1000;
  assert.ok(now >= time && now < time + 60_000, `guest clock ${now}, set to ${time}`);

  const shutdown = machine.qmp.waitForEvent("SHUTDOWN", { timeout: 30_000 });
  // guest-shutdown has no reply when it works: the guest goes away.
  await agent.send("guest-shutdown");
  assert.equal((await shutdown).data.reason, "guest-shutdown");
  assert.equal((await machine.exited).code, 0);
});

Deno.test("the tiny guest with the agent starts no agent when the machine has no agent port", async () => {
  const guest = await tinyGuest("x86_64", { agent: true });
  await using dir = await scratchDir();
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .device({
      kind: "virtio-serial-port",
      name: "org.example.other",
      chardev: { backend: "socket", path: `${dir.path}/other.sock`, server: true },
    })
    .launch({ timeout: 60_000 });
  const ps = await machine.console.exec(
    "pidof qemu-ga || echo none; cat /sys/class/virtio-ports/*/name",
  );
  assert.equal(ps.output, "none\norg.example.other");
  {
    await using plain = await vm({ arch: "x86_64" }).memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
    assert.equal((await plain.console.exec("pidof qemu-ga || echo none")).output, "none");
  }
});

Deno.test("the tiny guest's agent variant is refused clearly where setup made none", async () => {
  const other = Deno.build.arch === "x86_64" ? "aarch64" : "x86_64";
  await assert.rejects(
    () => tinyGuest(other, { agent: true }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.NotFound);
      assert.match(
        error.message,
        /Cannot use the \w+ tiny guest with the guest agent: there is none; it is built from the host's own qemu-ga, so only for the host's architecture .*; use the \w+ tiny guest without the agent/,
      );
      return true;
    },
  );
  assert.equal((await tinyGuest(other)).agent, false);
});
