/**
 * vmkit's benchmarks (`deno task bench`): QMP throughput and latency against a raw-socket floor
 * on the same QEMU, tiny-guest boot time against QEMU's defaults, launch overhead, disk hotplug
 * as the guest sees it, live migration, and the guest agent (exec round trip against a raw
 * client on the same socket, 64 MiB copies), and the Debian guest's boot to its agent and to
 * cloud-init done against a hand-written QEMU command. Prints a Markdown table for the README.
 *
 * Usage: deno task bench [--only qmp,boot,launch,hotplug,migration,agent,debian]
 */
import { parseArgs } from "node:util";
import {
  cloudInit,
  debianGuest,
  generateSshKey,
  GuestAgent,
  image,
  QmpClient,
  SshClient,
  tinyGuest,
  vm,
  writeKnownHosts,
} from "../mod.ts";
import { agentGuest } from "../tests/agent/_agent_guest.ts";
import { startSshd } from "../tests/ssh/_sshd.ts";
import { qcow2, scratchDir } from "../tests/vm/_disks.ts";

const SECTIONS = ["qmp", "boot", "launch", "hotplug", "migration", "agent", "ssh", "debian"];
const { values: flags } = parseArgs({ args: Deno.args, options: { only: { type: "string" } } });
const only = flags.only?.split(",") ?? SECTIONS;
for (const name of only) {
  if (!SECTIONS.includes(name)) {
    console.error(`bench: unknown section "${name}"; use ${SECTIONS.join(", ")}`);
    Deno.exit(2);
  }
}
const want = (section: string) => only.includes(section);
import { startQemuPeer } from "../tests/qmp/_qemu.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A floor's connection: bytes straight over Deno.connect, replies read by newline. */
class RawLines {
  #buffer = new Uint8Array(1 << 20);
  #pending = "";
  constructor(readonly conn: Deno.Conn) {}
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }
  async lines(count: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < count) {
      const nl = this.#pending.indexOf("\n");
      if (nl >= 0) {
        out.push(this.#pending.slice(0, nl));
        this.#pending = this.#pending.slice(nl + 1);
        continue;
      }
      const n = await this.conn.read(this.#buffer);
      if (n === null) throw new Error("EOF");
      // The agent's sync delimiter (0xFF) is not part of any line.
      this.#pending += decoder.decode(this.#buffer.subarray(0, n)).replaceAll("\xff", "");
    }
    return out;
  }
}

/** The floor of QMP: oob negotiated, replies counted by newline. */
class RawQmp extends RawLines {
  static async open(path: string): Promise<RawQmp> {
    const raw = new RawQmp(await Deno.connect({ transport: "unix", path }));
    await raw.lines(1);
    await raw.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":0}\n');
    await raw.lines(1);
    return raw;
  }
}

/**
 * Rates (per second) of the floor and of vmkit, measured in alternating rounds, each going first
 * every other round, so that drift on a shared machine (it moves these rates by 5% for seconds
 * at a time) falls on both alike. Medians of `rounds`, after a warm-up of each.
 */
async function rates(
  floor: () => Promise<void>,
  vmkit: () => Promise<void>,
  count: number,
  rounds = 9,
): Promise<[number, number]> {
  await floor();
  await vmkit();
  const measured: [number[], number[]] = [[], []];
  const runs = [floor, vmkit];
  for (let i = 0; i < rounds; i++) {
    for (const which of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const t = performance.now();
      await runs[which]();
      measured[which].push(count / ((performance.now() - t) / 1000));
    }
  }
  const mid = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(rounds / 2)];
  return [mid(measured[0]), mid(measured[1])];
}

async function median(run: () => Promise<number>, rounds: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < rounds; i++) values.push(await run());
  return values.sort((a, b) => a - b)[Math.floor(rounds / 2)];
}

const rows: string[][] = [];
if (want("qmp")) {
  // Two monitors on one QEMU: the floor talks to one and vmkit to the other, round by round.
  await using qemu = await startQemuPeer({ monitors: 2 });
  const raw = await RawQmp.open(qemu.addresses[0]);
  const qmp = await QmpClient.connect(qemu.addresses[1]);
  const N = 2000;
  const C = 1000;
  const [rawSeq, vmkitSeq] = await rates(async () => {
    for (let i = 0; i < N; i++) {
      await raw.send(`{"execute":"query-status","id":${i}}\n`);
      JSON.parse((await raw.lines(1))[0]);
    }
  }, async () => {
    for (let i = 0; i < N; i++) await qmp.execute("query-status");
  }, N);
  const [rawConc, vmkitConc] = await rates(async () => {
    let text = "";
    for (let i = 0; i < C; i++) text += `{"execute":"query-status","id":${i}}\n`;
    await raw.send(text);
    for (const line of await raw.lines(C)) JSON.parse(line);
  }, async () => {
    await Promise.all(Array.from({ length: C }, () => qmp.execute("query-status")));
  }, C);
  const rawSchema = await median(async () => {
    const t = performance.now();
    await raw.send('{"execute":"query-qmp-schema","id":"s"}\n');
    JSON.parse((await raw.lines(1))[0]);
    return performance.now() - t;
  }, 21);
  const vmkitSchema = await median(async () => {
    const t = performance.now();
    await qmp.execute("query-qmp-schema");
    return performance.now() - t;
  }, 21);
  raw.conn.close();
  rows.push(
    [
      "QMP query-status, sequential",
      `${rawSeq.toFixed(0)}/s`,
      `${vmkitSeq.toFixed(0)}/s`,
      `${(vmkitSeq / rawSeq).toFixed(2)}×`,
      "≥ 0.95×",
    ],
    [
      "QMP query-status, 1000 concurrent",
      `${rawConc.toFixed(0)}/s`,
      `${vmkitConc.toFixed(0)}/s`,
      `${(vmkitConc / rawConc).toFixed(2)}×`,
      "≥ 0.95×",
    ],
    [
      "query-qmp-schema latency",
      `${rawSchema.toFixed(2)} ms`,
      `${vmkitSchema.toFixed(2)} ms`,
      `${(vmkitSchema / rawSchema).toFixed(2)}×`,
      "≤ 1.2×",
    ],
  );
  await qmp.close();
}

// Boot to the shell prompt: vmkit's fast profile vs QEMU's defaults, same kernel and initrd.
const guest = await tinyGuest("x86_64");
// The kernel as Debian ships it (a bzImage); tinyGuest() boots the vmlinux setup extracted from it.
const shippedKernel = guest.kernel.replace(/vmlinux$/, "vmlinuz");
async function bootDefaults(kernel: string): Promise<number> {
  const t = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-m",
      "256",
      "-kernel",
      kernel,
      "-initrd",
      guest.initrd,
      "-append",
      "console=ttyS0",
      "-display",
      "none",
      "-serial",
      "stdio",
      "-monitor",
      "none",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (/vmkit# /.test(text)) break;
  }
  const ms = performance.now() - t;
  child.kill("SIGKILL");
  await child.status;
  return ms;
}
async function bootVmkit(): Promise<number> {
  const t = performance.now();
  await using machine = await vm({ arch: "x86_64" }).memory("256M").kernel(guest.kernel, {
    initrd: guest.initrd,
  }).launch();
  await machine.console.expect(/vmkit# /, { timeout: 60_000 });
  const ms = performance.now() - t;
  machine.kill();
  return ms;
}
const ROUNDS = 9;
if (want("boot")) {
  const defaults = await median(() => bootDefaults(shippedKernel), ROUNDS);
  const fast = await median(bootVmkit, ROUNDS);
  rows.push([
    "Boot to shell prompt (TCG), x86_64 tiny guest",
    `${defaults.toFixed(0)} ms (QEMU defaults, Debian's vmlinuz)`,
    `${fast.toFixed(0)} ms`,
    `${(fast / defaults).toFixed(2)}×`,
    "≤ 0.6×",
  ]);
  if (guest.kernel !== shippedKernel) {
    const sameKernel = await median(() => bootDefaults(guest.kernel), ROUNDS);
    rows.push([
      "Boot to shell prompt, both with the extracted vmlinux (PVH)",
      `${sameKernel.toFixed(0)} ms (QEMU defaults)`,
      `${fast.toFixed(0)} ms`,
      `${(fast / sameKernel).toFixed(2)}×`,
      "(for reference)",
    ]);
  }
}

// Launch overhead: time to the first console byte, vmkit vs spawning the same argv directly.
const builder = vm({ arch: "x86_64" }).memory("256M").kernel(guest.kernel, {
  initrd: guest.initrd,
  append: "loglevel=7",
});
async function firstByteDirect(): Promise<number> {
  const argv = builder.toArgv({ accel: "tcg" }).map((a) =>
    a.startsWith("socket,id=vmkit-console") ? "stdio,id=vmkit-console" : a
  );
  const qmpIndex = argv.indexOf("-mon");
  argv.splice(qmpIndex - 2, 4); // no QMP: nothing listens for it here
  const t = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read();
  const ms = performance.now() - t;
  child.kill("SIGKILL");
  await reader.cancel();
  await child.status;
  return ms;
}
async function firstByteVmkit(): Promise<number> {
  const t = performance.now();
  await using machine = await builder.launch();
  const reader = machine.console.stream().getReader();
  await reader.read();
  const ms = performance.now() - t;
  await reader.cancel();
  machine.kill();
  return ms;
}
if (want("launch")) {
  const direct = await median(firstByteDirect, ROUNDS);
  const launched = await median(firstByteVmkit, ROUNDS);
  rows.push([
    "Launch to first console byte",
    `${direct.toFixed(0)} ms (direct spawn)`,
    `${launched.toFixed(0)} ms`,
    `${launched >= direct ? "+" : "-"}${Math.abs(launched - direct).toFixed(0)} ms`,
    "≤ +50 ms",
  ]);
}

// Disk hotplug: from addDisk() to the disk in the guest's /sys/block, and removeDisk() to its
// DEVICE_DELETED, on one running tiny guest.
if (want("hotplug")) {
  await using dir = await scratchDir();
  const image = await qcow2(dir.path, "hot.qcow2", "64M");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .hotplugSlots(1)
    .launch();
  const disks = async () => (await machine.console.exec("ls /sys/block")).output;
  await disks();
  let removeMs = 0;
  const times: number[] = [];
  const addMs = await median(async () => {
    const t = performance.now();
    const disk = await machine.addDisk(image, { id: "bench" });
    while (!(await disks()).includes("vda")) await new Promise((r) => setTimeout(r, 5));
    const ms = performance.now() - t;
    times.push(ms);
    const r = performance.now();
    await machine.removeDisk(disk.id);
    removeMs += performance.now() - r;
    while ((await disks()).includes("vda")) await new Promise((r) => setTimeout(r, 5));
    return ms;
  }, ROUNDS);
  // The first add also loads the drivers (virtio_pci, virtio_blk), which the guest's init
  // loads on demand; later adds find them loaded.
  rows.push([
    "Hot-add a qcow2 disk until the guest lists it (TCG)",
    "—",
    `${addMs.toFixed(0)} ms (first, loading drivers: ${times[0].toFixed(0)} ms; remove: ${
      (removeMs / ROUNDS).toFixed(0)
    } ms mean)`,
    "—",
    "(measured)",
  ]);
}

// Live migration of the tiny guest (256 MiB) between two local QEMUs over a unix socket; the
// destination of one round is the source of the next.
if (want("migration")) {
  const builder = vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd });
  let source = await builder.launch();
  await source.console.exec("true");
  const totals: number[] = [];
  const downtimes: number[] = [];
  const wall: number[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const destination = await builder.incoming().launch();
      const t = performance.now();
      const stats = await source.migrateTo(destination, { timeout: 120_000 });
      wall.push(performance.now() - t);
      await source[Symbol.asyncDispose]();
      source = destination;
      totals.push(stats.totalTimeMs);
      downtimes.push(stats.downtimeMs);
    }
  } finally {
    await source[Symbol.asyncDispose]();
  }
  const mid = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  rows.push([
    "Live migration, tiny guest 256 MiB, unix socket",
    "—",
    `total ${mid(totals)} ms (migrateTo ${mid(wall).toFixed(0)} ms), downtime ${mid(downtimes)} ms`,
    "—",
    "(measured)",
  ]);
}

/**
 * The floor for the agent: a hand-written QGA client, one sync, then `guest-exec` and
 * `guest-exec-status` polled back to back with no wait, replies read by newline.
 */
class RawQga extends RawLines {
  #id = 0;
  static async open(path: string): Promise<RawQga> {
    const raw = new RawQga(await Deno.connect({ transport: "unix", path }));
    const sync = 4242;
    const bytes = encoder.encode(`{"execute":"guest-sync-delimited","arguments":{"id":${sync}}}\n`);
    await raw.send(new Uint8Array([0xff, ...bytes]));
    while (true) {
      const line = (await raw.lines(1))[0].replace(/^[^{]*/, "");
      if (JSON.parse(line).return === sync) return raw;
    }
  }
  async call(command: string, args: unknown): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    await this.send(
      encoder.encode(JSON.stringify({ execute: command, arguments: args, id }) + "\n"),
    );
    return JSON.parse((await this.lines(1))[0]).return;
  }
}

// The guest agent: `exec(["true"])` round trips, vmkit against the raw client above on the same
// socket (QEMU serves it; each takes it in turn), and 64 MiB copied in and out.
if (want("agent")) {
  const g = await agentGuest();
  await using dir = await scratchDir();
  const socket = `${dir.path}/qga.sock`;
  await using machine = await vm({ arch: "x86_64" }).memory("512M")
    .kernel(g.kernel, { initrd: g.initrd })
    .device({
      kind: "virtio-serial-port",
      name: "org.qemu.guest_agent.0",
      chardev: { backend: "socket", path: socket, server: true },
    })
    .launch();
  await machine.console.expect("vmkit: guest ready", { timeout: 60_000 });
  const N = 50;
  const [rawRate, vmkitRate] = await rates(
    async () => {
      const raw = await RawQga.open(socket);
      for (let i = 0; i < N; i++) {
        const { pid } = await raw.call("guest-exec", { path: "true", "capture-output": true });
        while ((await raw.call("guest-exec-status", { pid })).exited !== true) {
          // Polled back to back.
        }
      }
      raw.conn.close();
    },
    async () => {
      const agent = await GuestAgent.connect(socket);
      for (let i = 0; i < N; i++) await agent.exec(["true"]);
      await agent.close();
    },
    N,
    5,
  );
  rows.push([
    'Guest agent exec(["true"]) round trip, tiny guest (TCG)',
    `${(1000 / rawRate).toFixed(1)} ms (raw client, polling back to back)`,
    `${(1000 / vmkitRate).toFixed(1)} ms`,
    `${(rawRate / vmkitRate).toFixed(2)}×`,
    "≤ 1.2×",
  ]);
  // 64 MiB in and out, the host's memory sampled during each copy.
  const size = 64 * 1024 * 1024;
  const file = `${dir.path}/64M`;
  await Deno.writeFile(file, crypto.getRandomValues(new Uint8Array(65536)).slice(0, 1));
  {
    using out = await Deno.open(file, { write: true, truncate: true });
    const block = crypto.getRandomValues(new Uint8Array(65536));
    for (let at = 0; at < size; at += block.length) await out.write(block);
  }
  const agent = await GuestAgent.connect(socket);
  const sampleRss = (work: Promise<unknown>) => {
    let peak = Deno.memoryUsage().rss;
    const timer = setInterval(() => (peak = Math.max(peak, Deno.memoryUsage().rss)), 20);
    return work.finally(() => clearInterval(timer)).then(() => peak);
  };
  const baseRss = Deno.memoryUsage().rss;
  let t = performance.now();
  const inPeak = await sampleRss(agent.copyIn(file, "/tmp/64M"));
  const inMs = performance.now() - t;
  t = performance.now();
  const outPeak = await sampleRss(agent.copyOut("/tmp/64M", `${file}.back`));
  const outMs = performance.now() - t;
  await agent.close();
  const same = (await Deno.stat(`${file}.back`)).size === size;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  rows.push([
    "Guest agent copy 64 MiB in / out (1 MiB chunks)",
    "—",
    `in ${(64 / (inMs / 1000)).toFixed(1)} MiB/s, out ${(64 / (outMs / 1000)).toFixed(1)} MiB/s${
      same ? "" : " (SIZE MISMATCH)"
    }; host RSS +${mib(inPeak - baseRss)} / +${mib(outPeak - baseRss)} at peak`,
    "—",
    "(measured; memory bounded)",
  ]);
}

// The Debian guest (systemd, cloud-init, qemu-ga) from an overlay with a NoCloud seed: launch
// to "the agent answers" and to "cloud-init done", vmkit's default against a hand-written QEMU
// command on the same image, drives and agent port, alternating, 3 rounds (a boot is a minute
// or more under TCG). Both tell readiness the same way: a guest-sync-delimited answered, then
// `cloud-init status --wait` run through the agent. And how late vmkit's agent stage resolves
// after the guest opened the port (QEMU's VSERPORT_CHANGE timestamp).
// ssh: vmkit's exec("true") against the plain ssh client run with the same options (the line
// `command()` gives, one connection per command, as users type it), on a real sshd (the tests'
// own, on 127.0.0.1).
if (want("ssh")) {
  await using sshd = await startSshd();
  const knownHostsFile = `${sshd.dir}/known_hosts`;
  await writeKnownHosts(knownHostsFile, [sshd.hostKey], { port: sshd.port });
  await using client = new SshClient({
    port: sshd.port,
    user: sshd.user,
    identity: sshd.key.privateKey,
    knownHostsFile,
  });
  await client.exec("true");
  const line = client.command("true");
  const plain = async () => {
    const out = await new Deno.Command("sh", { args: ["-c", line], stdin: "null" }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  const N = 20;
  const [plainRate, vmkitRate] = await rates(
    async () => {
      for (let i = 0; i < N; i++) await plain();
    },
    async () => {
      for (let i = 0; i < N; i++) await client.exec("true");
    },
    N,
    5,
  );
  rows.push([
    'ssh exec("true"), local sshd',
    `${(1000 / plainRate).toFixed(0)} ms (plain ssh, same options)`,
    `${(1000 / vmkitRate).toFixed(0)} ms (one ControlMaster connection)`,
    `${(plainRate / vmkitRate).toFixed(2)}×`,
    "≤ 1.1×",
  ]);
}

if (want("debian")) {
  const debian = await debianGuest();
  await using dir = await scratchDir();
  // One login key for both sides: the default user gets it from the seed.
  const key = await generateSshKey(dir.path);
  const seed = cloudInit({
    userData: {
      runcmd: ["echo VMKIT-BENCH-RUNCMD > /dev/ttyS0"],
      ssh_authorized_keys: [key.publicKey],
    },
    metaData: { "local-hostname": "vmkit-bench" },
  });
  await seed.write(`${dir.path}/seed.iso`);
  const overlay = async () => {
    const path = `${dir.path}/overlay.qcow2`;
    await Deno.remove(path).catch(() => {});
    await image.create(path, { backing: debian.image });
    // Both sides start with the guest's files in the host's page cache: this machine's memory
    // reclaim (DAMON) drops them within minutes, and the boot that read them from disk again
    // was the slowest of its run, whichever side it was.
    for (const file of [debian.image, debian.kernel, debian.initrd]) {
      using f = await Deno.open(file);
      for await (const _ of f.readable.values({ preventCancel: true }));
    }
    return path;
  };
  type Boot = { agent: number; ssh: number; cloudInit: number; late?: number };
  /** The first login that runs `true`, as a hand-written loop does it (50 ms between tries). */
  const plainSsh = async (port: number, t: number): Promise<number> => {
    while (true) {
      const out = await new Deno.Command("ssh", {
        args: [
          ...["-F", "none", "-i", key.privateKey, "-p", String(port), "-o", "BatchMode=yes"],
          ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
          ...["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "debian@127.0.0.1", "true"],
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return performance.now() - t;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const plain = async (): Promise<Boot> => {
    const disk = await overlay();
    const socket = `${dir.path}/qga.sock`;
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (free.addr as Deno.NetAddr).port;
    free.close();
    const t = performance.now();
    const child = new Deno.Command("qemu-system-x86_64", {
      args: [
        ...["-machine", "q35", "-cpu", "max", "-smp", "2", "-m", "1G"],
        ...["-kernel", debian.kernel, "-initrd", debian.initrd],
        ...["-append", "root=/dev/vda rw console=ttyS0"],
        ...["-drive", `file=${disk},if=virtio,format=qcow2`],
        ...["-drive", `file=${dir.path}/seed.iso,if=virtio,format=raw,readonly=on`],
        ...[
          "-device",
          "virtio-serial",
          "-chardev",
          `socket,id=qga,path=${socket},server=on,wait=off`,
        ],
        ...["-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0"],
        ...["-nic", `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${port}-:22`],
        ...["-display", "none", "-serial", "null", "-monitor", "none"],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let raw: RawQga | undefined;
      while (raw === undefined) {
        // QEMU makes the socket file a moment before it listens on it.
        raw = await RawQga.open(socket).catch((error) => {
          if (error instanceof Deno.errors.NotFound) return undefined;
          if (error instanceof Deno.errors.ConnectionRefused) return undefined;
          throw error;
        });
        if (raw === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const agent = performance.now() - t;
      const ssh = await plainSsh(port, t);
      const { pid } = await raw.call("guest-exec", {
        path: "cloud-init",
        arg: ["status", "--wait"],
        "capture-output": true,
      });
      let status;
      while ((status = await raw.call("guest-exec-status", { pid })).exited !== true) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (status.exitcode !== 0) throw new Error(`cloud-init status exited ${status.exitcode}`);
      const cloud = performance.now() - t;
      raw.conn.close();
      return { agent, ssh, cloudInit: cloud };
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  };
  const vmkit = async (): Promise<Boot> => {
    const disk = await overlay();
    const t = performance.now();
    await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2)
      .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
      .drive(disk)
      // vmkit's own way: the seed made at launch, with the VM's key and a host key vmkit knows.
      .cloudInit({
        userData: { runcmd: ["echo VMKIT-BENCH-RUNCMD > /dev/ttyS0"] },
        metaData: { "local-hostname": "vmkit-bench" },
      })
      .guestAgent()
      .ssh()
      .launch({ timeout: 60_000 });
    const opened = (async () => {
      for await (const event of machine.qmp.events({ names: ["VSERPORT_CHANGE"] })) {
        if (event.data?.open === true) {
          return event.timestamp.seconds * 1000 + event.timestamp.microseconds / 1000;
        }
      }
      throw new Error("QEMU exited before the guest opened the agent's port");
    })();
    await machine.ready({ stages: ["agent"], timeout: 300_000 });
    const readyAt = Date.now();
    const agent = performance.now() - t;
    await machine.ready({ stages: ["ssh"], timeout: 300_000 });
    const ssh = performance.now() - t;
    await machine.ready({ stages: ["cloud-init"], timeout: 300_000 });
    const cloud = performance.now() - t;
    const late = readyAt - await opened;
    machine.kill();
    return { agent, ssh, cloudInit: cloud, late };
  };
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const boots: [Boot[], Boot[]] = [[], []];
  for (let i = 0; i < 4; i++) {
    for (const which of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const boot = await (which === 0 ? plain : vmkit)();
      boots[which].push(boot);
      // Each boot as it ends, in the order run: the table's medians hide a drift or an order.
      console.error(
        `debian round ${i + 1} ${which === 0 ? "plain" : "vmkit"}: agent ${s(boot.agent)}, ssh ${
          s(boot.ssh)
        }, cloud-init ${s(boot.cloudInit)}`,
      );
    }
  }
  const mid = (values: number[]) => {
    const sorted = values.toSorted((a, b) => a - b);
    const half = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
  };
  for (const stage of ["agent", "ssh", "cloudInit"] as const) {
    const [base, ours] = boots.map((b) => mid(b.map((boot) => boot[stage])));
    // Each round's own ratio too: the two boots of a round ran minutes apart at most, so the
    // machine's slower drift falls on both.
    const rounds = boots[0].map((plainBoot, i) => boots[1][i][stage] / plainBoot[stage]);
    rows.push([
      `Debian guest boot to ${
        stage === "agent"
          ? "the agent answering"
          : stage === "ssh"
          ? "the first SSH login"
          : "cloud-init done"
      } (TCG, 2 vCPUs)`,
      `${s(base)} (hand-written QEMU command)`,
      s(ours),
      `${(ours / base).toFixed(2)}× (rounds ${rounds.map((r) => r.toFixed(2)).join(", ")})`,
      "≤ 0.85×",
    ]);
  }
  rows.push([
    "Debian guest: vmkit's agent stage after the guest opened the port (VSERPORT_CHANGE)",
    "—",
    `${mid(boots[1].map((boot) => boot.late!)).toFixed(0)} ms`,
    "—",
    "≤ 200 ms",
  ]);
}

console.log("| Benchmark | Baseline | vmkit | Ratio | Goal |\n|---|---|---|---|---|");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
