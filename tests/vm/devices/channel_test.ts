import assert from "node:assert/strict";
import { tinyGuest, type Vm, vm, VmBuilder } from "../../../mod.ts";
import { applyPlan, type PlanContext, type Step } from "../../../lib/vm/devices/_plan.ts";
import {
  type VirtioSerialPortDevice,
  virtioSerialPortKind,
} from "../../../lib/vm/devices/virtio_serial.ts";
import { methodField } from "../../../lib/vm/_validate.ts";
import { jsonOptions } from "../_argv.ts";
import { scratchDir } from "../_disks.ts";

const RUNTIME = { accel: "tcg", runtimeDir: "/tmp/vmkit-channel" } as const;

/** The values of `option` a builder's argv has that a bare VM's has not. */
function added(builder: VmBuilder, option: string): string[] {
  const base = new Set(vm({ arch: builder.arch }).toArgv(RUNTIME));
  const argv = builder.toArgv(RUNTIME);
  return argv.flatMap((arg, i) => arg === option && !base.has(argv[i + 1]) ? [argv[i + 1]] : []);
}

/** Runs a guest command that must succeed, and returns its output. */
async function run(machine: Vm, command: string): Promise<string> {
  const { output, exitCode } = await machine.console.exec(command);
  assert.equal(exitCode, 0, `${command}: ${output}`);
  return output;
}

/** The guest's `/dev` name of the virtio-serial port called `name`, once the guest has it. */
async function portNamed(machine: Vm, name: string): Promise<string> {
  const find = `for p in /sys/class/virtio-ports/*; do ` +
    `[ "$(cat $p/name 2>/dev/null)" = ${name} ] && echo \${p##*/}; done; true`;
  for (let i = 0; i < 100; i++) {
    const port = await run(machine, find);
    if (port !== "") return port;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`the guest has no virtio-serial port named ${name}`);
}

/** Reads from a connection until `expected` bytes came, or the connection ends. */
async function readText(conn: Deno.Conn, expected: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buffer = new Uint8Array(4096);
  while (size < expected) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    size += n;
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all);
}

/** A file's text, once it has at least `expected` characters (QEMU writes it as the guest does). */
async function fileText(path: string, expected: number): Promise<string> {
  let text = "";
  for (let i = 0; i < 100; i++) {
    text = await Deno.readTextFile(path);
    if (text.length >= expected) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return text;
}

Deno.test("virtio-serial ports share one controller and each owns its chardev", () => {
  const builder = vm({ arch: "x86_64" })
    .device({
      kind: "virtio-serial-port",
      name: "org.qemu.guest_agent.0",
      chardev: { backend: "socket", path: "/run/qga.sock", server: true },
    })
    .device({
      kind: "virtio-serial-port",
      name: "org.vmkit.log:0",
      chardev: { backend: "file", path: "/var/log/a,b.log" },
      id: "log",
    })
    .device({ kind: "virtio-serial-port", console: true, chardev: { backend: "pty" } });
  assert.deepEqual(added(builder, "-chardev"), [
    "socket,id=port0-chr,path=/run/qga.sock,server=on,wait=off",
    "file,id=log-chr,path=/var/log/a,,b.log",
    "pty,id=port2-chr",
  ]);
  assert.deepEqual(added(builder, "-device").map((d) => JSON.parse(d)), [
    { driver: "virtio-serial-pci", id: "vmkit-virtio-serial" },
    {
      driver: "virtserialport",
      id: "port0",
      bus: "vmkit-virtio-serial.0",
      chardev: "port0-chr",
      name: "org.qemu.guest_agent.0",
    },
    {
      driver: "virtserialport",
      id: "log",
      bus: "vmkit-virtio-serial.0",
      chardev: "log-chr",
      name: "org.vmkit.log:0",
    },
    { driver: "virtconsole", id: "port2", bus: "vmkit-virtio-serial.0", chardev: "port2-chr" },
  ]);
  // Each chardev comes before the port that uses it.
  const argv = builder.toArgv(RUNTIME);
  assert.ok(argv.indexOf("pty,id=port2-chr") < argv.findIndex((a) => a.includes("virtconsole")));
});

Deno.test("the virtio-serial controller follows the machine's virtio transport", () => {
  const controller = (builder: VmBuilder) =>
    jsonOptions(
      builder.device({ kind: "virtio-serial-port", name: "a", chardev: { backend: "null" } })
        .toArgv(RUNTIME),
      "-device",
    ).find((device) => device.id === "vmkit-virtio-serial")?.driver;
  assert.equal(controller(vm({ arch: "aarch64" })), "virtio-serial-pci");
  assert.equal(controller(vm({ arch: "s390x" })), "virtio-serial-ccw");
  assert.equal(controller(vm({ arch: "x86_64" }).machine("microvm")), "virtio-serial-device");
});

Deno.test("a virtio-serial port refuses a bad or taken name, a taken id and a 32nd port", () => {
  const base = vm({ arch: "x86_64" }).device({
    kind: "virtio-serial-port",
    name: "org.vmkit.a",
    chardev: { backend: "null" },
  });
  const port = (name: string) => ({
    kind: "virtio-serial-port" as const,
    name,
    chardev: { backend: "null" as const },
  });
  assert.throws(() => base.device(port("org.vmkit.a")), {
    name: "TypeError",
    message: /port name "org\.vmkit\.a" is used by both virtio-serial-port device 0 and/,
  });
  for (const name of ["a/b", "", "a b", "a\nb", ".hidden", "x".repeat(128)]) {
    assert.throws(() => base.device(port(name)), {
      name: "TypeError",
      message: /^Cannot set virtio-serial-port name to .*: use 1 to 127 letters, digits/,
    }, JSON.stringify(name));
  }
  assert.throws(
    () => base.device({ kind: "virtio-serial-port", chardev: { backend: "null" } }),
    /virtio-serial-port name is missing; the guest finds a port by its name \(a console needs none\)/,
  );
  assert.throws(
    () => base.device({ ...port("b"), id: "port0" }),
    /id "port0" is used by both virtio-serial-port device 0 and virtio-serial-port device 1/,
  );
  assert.throws(
    () => base.device({ ...port("b"), chardev: { backend: "file", path: "/tmp/a\0b" } }),
    /^TypeError: Cannot set virtio-serial-port chardev\.path to "\/tmp\/a\\u0000b": newline and NUL/,
  );
  assert.throws(
    () => base.device({ ...port("b"), chardev: { backend: "tcp" } as never }),
    /chardev\.backend to "tcp": use "null", "file", "pipe", "pty", "socket"/,
  );
  assert.throws(
    () => base.device({ ...port("b"), chardev: { backend: "null", path: "/x" } as never }),
    /^TypeError: Cannot set virtio-serial-port chardev: unknown field "path"; use "backend"$/,
  );
  // 30 ports and a console fill a controller's 31 port numbers.
  let full = base;
  for (let i = 1; i < 30; i++) full = full.device(port(`p${i}`));
  full = full.device({ kind: "virtio-serial-port", console: true, chardev: { backend: "null" } });
  assert.equal(added(full, "-device").length, 32);
  assert.throws(() => full.device(port("p31")).toArgv(RUNTIME), {
    name: "RangeError",
    message:
      'Cannot add virtio-serial port "p31": a VM has at most 31 virtio-serial ports (30 ports and a console)',
  });
});

Deno.test("a VM description with virtio-serial ports reads back to the same command line", () => {
  const builder = vm({ arch: "x86_64" })
    .device({
      kind: "virtio-serial-port",
      name: "org.vmkit.test.0",
      chardev: { backend: "socket", path: "/tmp/t.sock", server: false },
      id: "test",
    })
    .device({
      kind: "virtio-serial-port",
      name: "hvc",
      console: true,
      chardev: { backend: "file", path: "/tmp/out", append: true },
    });
  const json = JSON.parse(JSON.stringify(builder.toJSON()));
  assert.deepEqual(json.devices[0], {
    kind: "virtio-serial-port",
    name: "org.vmkit.test.0",
    chardev: { backend: "socket", path: "/tmp/t.sock", server: false },
    id: "test",
  });
  assert.deepEqual(VmBuilder.fromJSON(json).toArgv(RUNTIME), builder.toArgv(RUNTIME));
  // A bad field is named by its path in the description.
  json.devices[1].chardev.path = 7;
  assert.throws(
    () => VmBuilder.fromJSON(json),
    /devices\[1\]\.chardev\.path to 7: expected a string/,
  );
});

Deno.test("a port on a socket QEMU connects to must exist before QEMU starts", async () => {
  await using dir = await scratchDir();
  const guest = await tinyGuest("x86_64");
  const path = `${dir.path}/nobody.sock`;
  await assert.rejects(
    vm({ arch: "x86_64" }).kernel(guest.kernel, { initrd: guest.initrd }).device({
      kind: "virtio-serial-port",
      name: "org.vmkit.client.0",
      chardev: { backend: "socket", path, server: false },
    }).launch({ timeout: 60_000 }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.NotFound, String(error));
      assert.equal(
        error.message,
        `Cannot launch VM: virtio-serial port "org.vmkit.client.0" socket "${path}" does not exist; start the program that listens on it first, or let QEMU listen (server: true)`,
      );
      return true;
    },
  );
});

Deno.test("the guest finds its ports by name, and what it writes reaches a socket, a file and the console's file", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const socket = `${dir.path}/test.sock`;
  await using machine = await vm({ arch: "x86_64" })
    .memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .device({
      kind: "virtio-serial-port",
      name: "org.vmkit.test.0",
      chardev: { backend: "socket", path: socket, server: true },
    })
    .device({
      kind: "virtio-serial-port",
      name: "org.vmkit.file.0",
      chardev: { backend: "file", path: `${dir.path}/port.out` },
    })
    .device({
      kind: "virtio-serial-port",
      console: true,
      chardev: { backend: "file", path: `${dir.path}/hvc.out` },
    })
    .launch({ timeout: 60_000 });

  const toSocket = await portNamed(machine, "org.vmkit.test.0");
  const toFile = await portNamed(machine, "org.vmkit.file.0");
  assert.notEqual(toSocket, toFile);
  using conn = await Deno.connect({ transport: "unix", path: socket });
  await run(machine, `echo through-the-socket > /dev/${toSocket}`);
  assert.equal(await readText(conn, 19), "through-the-socket\n");
  await run(machine, `echo into-the-file > /dev/${toFile}`);
  assert.equal(await fileText(`${dir.path}/port.out`, 14), "into-the-file\n");
  // The console is a tty: its line discipline turns \n into \r\n. Without a virtconsole, the
  // guest's /dev/hvc0 has no device behind it and the write fails.
  await run(machine, "echo on-the-console > /dev/hvc0");
  assert.equal(await fileText(`${dir.path}/hvc.out`, 16), "on-the-console\r\n");

  // And the host can write to the guest through the socket.
  const reading = machine.console.exec(`head -c 6 /dev/${toSocket}`);
  await conn.write(new TextEncoder().encode("hello\n"));
  assert.deepEqual(await reading, { output: "hello", exitCode: 0 });
});

Deno.test("a virtio-serial port hot-added with chardev-add and device_add reaches the guest", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const builder = vm({ arch: "x86_64" })
    .memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .device({ kind: "virtio-serial-port", name: "org.vmkit.boot.0", chardev: { backend: "null" } });
  await using machine = await builder.launch({ timeout: 60_000 });
  await portNamed(machine, "org.vmkit.boot.0");

  const socket = `${dir.path}/hot.sock`;
  const device = virtioSerialPortKind.parse(
    { name: "org.vmkit.hot.0", chardev: { backend: "socket", path: socket } },
    methodField("virtio-serial-port"),
    builder.archProfile,
  );
  const ctx: PlanContext = {
    arch: builder.archProfile,
    machine: builder.machineType,
    transport: builder.transport,
    runtimeDir: machine.runtimeDir,
    sharedMemory: false,
  };
  // A shared controller the VM has already is not added again.
  const present = new Set(
    (await machine.qmp.execute("qom-list", { path: "/machine/peripheral" })).map((p) => p.name),
  );
  const hotPlan = (d: VirtioSerialPortDevice, index: number) =>
    virtioSerialPortKind.plan(d, ctx, index).filter((step: Step) =>
      !(step.kind === "device" && step.args.id !== undefined && present.has(step.args.id))
    );
  const steps = hotPlan(device, 1);
  assert.deepEqual(steps.map((step) => step.kind), ["chardev", "device"]);
  await applyPlan(machine.qmp, steps, { timeout: 10_000 });

  const port = await portNamed(machine, "org.vmkit.hot.0");
  using conn = await Deno.connect({ transport: "unix", path: socket });
  await run(machine, `echo hot > /dev/${port}`);
  assert.equal(await readText(conn, 4), "hot\n");
  assert.equal(
    await machine.qmp.execute("qom-get", { path: "/machine/peripheral/port1", property: "name" }),
    "org.vmkit.hot.0",
  );

  // A port whose name the guest has already is refused by QEMU, and its chardev is removed.
  await assert.rejects(
    applyPlan(machine.qmp, hotPlan({ ...device, name: "org.vmkit.boot.0" }, 2), {
      timeout: 10_000,
    }),
    /A port already exists by name org\.vmkit\.boot\.0/,
  );
  const chardevs = (await machine.qmp.execute("query-chardev")).map((c) => c.label);
  assert.ok(chardevs.includes("port1-chr") && !chardevs.includes("port2-chr"), String(chardevs));

  // Vm.addDevice sends the same plan, without the controller, and removeDevice takes the port
  // and its chardev away again.
  const out = `${dir.path}/api.out`;
  const api = await machine.addDevice({
    kind: "virtio-serial-port",
    name: "org.vmkit.api.0",
    chardev: { backend: "file", path: out },
    id: "api",
  });
  assert.deepEqual(api, { id: "api", kind: "virtio-serial-port" });
  await run(machine, `echo api > /dev/${await portNamed(machine, "org.vmkit.api.0")}`);
  assert.equal(await fileText(out, 4), "api\n");
  await machine.removeDevice("api");
  const labels = (await machine.qmp.execute("query-chardev")).map((c) => c.label);
  assert.ok(!labels.includes("api-chr"), String(labels));
  assert.equal(
    await run(machine, "grep -l org.vmkit.api.0 /sys/class/virtio-ports/*/name; true"),
    "",
  );
});

Deno.test("virtio-serial ports plug into their controller on every architecture", async () => {
  const machines: [VmBuilder, string][] = [
    [vm({ arch: "x86_64" }), "virtio-serial-pci"],
    [vm({ arch: "x86_64" }).machine("microvm"), "virtio-serial-device"],
    [vm({ arch: "aarch64" }), "virtio-serial-pci"],
    [vm({ arch: "riscv64" }), "virtio-serial-pci"],
    [vm({ arch: "s390x" }), "virtio-serial-ccw"],
    [vm({ arch: "ppc64le" }), "virtio-serial-pci"],
  ];
  for (const [builder, controller] of machines) {
    await using machine = await builder.paused()
      .device({ kind: "virtio-serial-port", name: "org.vmkit.a", chardev: { backend: "null" } })
      .device({ kind: "virtio-serial-port", console: true, chardev: { backend: "null" } })
      .launch({ timeout: 30_000 });
    const peripherals = await machine.qmp.execute("qom-list", { path: "/machine/peripheral" });
    const types = Object.fromEntries(peripherals.map((p) => [p.name, p.type]));
    const what = `${builder.arch} ${builder.machineType}`;
    assert.equal(types["vmkit-virtio-serial"], `child<${controller}>`, what);
    assert.equal(types.port0, "child<virtserialport>", what);
    assert.equal(types.port1, "child<virtconsole>", what);
    assert.equal(
      await machine.qmp.execute("qom-get", { path: "/machine/peripheral/port0", property: "name" }),
      "org.vmkit.a",
      what,
    );
  }
});

Deno.test("vsock takes a CID from 3 to 4294967294 and says why 0, 1 and 2 are not a guest's", () => {
  const base = vm({ arch: "x86_64" });
  for (
    const [cid, why] of [
      [0, "CID 0 is the hypervisor's"],
      [1, "CID 1 is the local loopback's"],
      [2, "CID 2 is the host's"],
    ] as const
  ) {
    assert.throws(() => base.device({ kind: "vsock", cid }), {
      name: "RangeError",
      message: `Cannot set vsock cid to ${cid}: ${why}; use a number from 3 to 4294967294`,
    });
  }
  assert.throws(() => base.device({ kind: "vsock", cid: 2 ** 32 - 1 }), /means any CID/);
  assert.throws(() => base.device({ kind: "vsock", cid: 3.5 }), RangeError);
  assert.throws(() => base.device({ kind: "vsock", cid: "3" as never }), RangeError);
  assert.throws(() => base.device({ kind: "vsock" } as never), /vsock cid is missing/);
  assert.throws(
    () => VmBuilder.fromJSON({ arch: "x86_64", devices: [{ kind: "vsock", cid: 1 }] }),
    /devices\[0\]\.cid to 1: CID 1 is the local loopback's/,
  );
});

Deno.test("vsock is vhost-vsock on the machine's transport, one per VM", () => {
  const devices = (builder: VmBuilder) => added(builder, "-device").map((d) => JSON.parse(d));
  const x86 = vm({ arch: "x86_64" }).device({ kind: "vsock", cid: 3 })
    .device({ kind: "vsock", cid: 4294967294 });
  assert.deepEqual(devices(x86), [
    { driver: "vhost-vsock-pci", id: "vmkit-vsock", "guest-cid": 4294967294 },
  ]);
  assert.equal(
    devices(vm({ arch: "s390x" }).device({ kind: "vsock", cid: 9 }))[0].driver,
    "vhost-vsock-ccw",
  );
  assert.equal(
    devices(vm({ arch: "x86_64" }).machine("microvm").device({ kind: "vsock", cid: 9 }))[0].driver,
    "vhost-vsock-device",
  );
  assert.throws(
    () =>
      VmBuilder.fromJSON({
        arch: "x86_64",
        devices: [{ kind: "vsock", cid: 3 }, { kind: "vsock", cid: 4 }],
      }),
    /devices\[1\]: a VM has one vsock device, and devices\[0\] is one already/,
  );
});

Deno.test({
  name: "launch() without /dev/vhost-vsock says to load vhost_vsock, before QEMU starts",
  // A host with the module loaded has the device: there this test has nothing to show.
  ignore: await Deno.stat("/dev/vhost-vsock").then(() => true, () => false),
  async fn() {
    const guest = await tinyGuest("x86_64");
    await assert.rejects(
      vm({ arch: "x86_64" }).kernel(guest.kernel, { initrd: guest.initrd })
        .device({ kind: "vsock", cid: 3 })
        .launch({ timeout: 60_000 }),
      (error: Error) => {
        // QEMU's own failure would be a VmLaunchError with its stderr ("failed to open vhost
        // device"); this one is vmkit's check of the file, made before QEMU is started.
        assert.ok(error instanceof Deno.errors.NotFound, String(error));
        assert.equal(
          error.message,
          'Cannot launch VM: vsock host device "/dev/vhost-vsock" does not exist; load the vhost_vsock kernel module: modprobe vhost_vsock',
        );
        return true;
      },
    );
  },
});
