import assert from "node:assert/strict";
import { checkVfioHost, tinyGuest, vm, VmBuilder } from "../../../mod.ts";
import { jsonOptions } from "../_argv.ts";
import { scratchDir } from "../_disks.ts";

const argvOptions = { accel: "tcg", runtimeDir: "/tmp/vmkit-test" } as const;

/** The first PCI device of this host, with what sysfs says about it; undefined without PCI. */
async function aHostPciDevice(): Promise<
  { address: string; grouped: boolean; driver?: string } | undefined
> {
  try {
    for await (const entry of Deno.readDir("/sys/bus/pci/devices")) {
      const path = `/sys/bus/pci/devices/${entry.name}`;
      const grouped = await Deno.lstat(`${path}/iommu_group`).then(() => true, () => false);
      const driver = await Deno.readLink(`${path}/driver`).then(
        (link) => link.split("/").pop(),
        () => undefined,
      );
      return { address: entry.name, grouped, driver };
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return undefined;
}

Deno.test("a vfio device is vfio-pci with the host address written as sysfs names it", () => {
  const argv = vm({ arch: "x86_64" })
    .device({ kind: "vfio", host: "1:0.0" })
    .device({
      kind: "vfio",
      host: "0000:0A:1F.7",
      romFile: "/tmp/rom.bin",
      bootIndex: 1,
      id: "gpu",
    })
    .toArgv(argvOptions);
  assert.deepEqual(jsonOptions(argv, "-device"), [
    { driver: "vfio-pci", id: "vfio0", host: "0000:01:00.0" },
    {
      driver: "vfio-pci",
      id: "gpu",
      host: "0000:0a:1f.7",
      romfile: "/tmp/rom.bin",
      bootindex: 1,
    },
  ]);
  // What launch() checks before QEMU starts, in that order.
  const builder = vm({ arch: "x86_64" }).device({ kind: "vfio", host: "01:00.0", romFile: "r" });
  assert.deepEqual(builder.inputFiles.map((f) => f.path), [
    "/sys/bus/pci/devices/0000:01:00.0",
    "/sys/bus/pci/devices/0000:01:00.0/iommu_group",
    "/sys/bus/pci/drivers/vfio-pci/0000:01:00.0",
    "/dev/vfio/vfio",
    "r",
  ]);
});

Deno.test("a vfio device refuses a malformed address, one host device twice, and a machine with no PCI", () => {
  const x86 = vm({ arch: "x86_64" });
  for (const host of ["01:20.0", "0000:01:00.8", "1:2:3", "00000:01:00.0", "01:00"]) {
    assert.throws(() => x86.device({ kind: "vfio", host }), {
      name: "TypeError",
      message: new RegExp(
        `^Cannot set vfio host to "${host}": use a PCI address \\[domain:\\]bus:slot\\.function in hex, slot at most 1f, function 0 to 7, as "lspci -D" prints it \\("0000:01:00\\.0"\\)$`,
      ),
    });
  }
  assert.throws(
    () => VmBuilder.fromJSON({ arch: "x86_64", devices: [{ kind: "vfio", host: 1 }] }),
    { message: /devices\[0\]\.host to 1: use a PCI address/ },
  );
  assert.throws(
    () => x86.device({ kind: "vfio", host: "01:00.0" }).device({ kind: "vfio", host: "0:1:0.0" }),
    {
      message:
        /^Cannot add vfio device: host PCI device 0000:01:00\.0 is used by both vfio device 0 and vfio device 1$/,
    },
  );
  assert.throws(
    () => x86.machine("microvm").device({ kind: "vfio", host: "01:00.0" }).toArgv(argvOptions),
    {
      message:
        /^Cannot add vfio device "vfio0" \(host 0000:01:00\.0\): machine "microvm" has no PCI bus for it$/,
    },
  );
});

Deno.test("launch names a host PCI device that cannot be passed through, and how to fix it", async () => {
  const missing = vm({ arch: "x86_64" }).device({ kind: "vfio", host: "ffff:ff:1f.7" });
  await assert.rejects(missing.launch({ timeout: 10_000 }), {
    message:
      /^Cannot launch VM: host PCI device ffff:ff:1f\.7 "\/sys\/bus\/pci\/devices\/ffff:ff:1f\.7" does not exist; "lspci -D" lists the host's PCI devices$/,
  });
  const device = await aHostPciDevice();
  // A host without PCI has nothing else to refuse; one bound to vfio-pci would launch.
  if (device === undefined || device.driver === "vfio-pci") return;
  const real = vm({ arch: "x86_64" }).device({ kind: "vfio", host: device.address });
  const a = device.address.replaceAll(".", "\\.");
  await assert.rejects(real.launch({ timeout: 10_000 }), {
    message: device.grouped
      ? new RegExp(
        `^Cannot launch VM: the vfio-pci binding of host PCI device ${a} "/sys/bus/pci/drivers/vfio-pci/${a}" does not exist; bind it to vfio-pci, as root: modprobe vfio-pci; echo ${a} > /sys/bus/pci/devices/${a}/driver/unbind; echo vfio-pci > /sys/bus/pci/devices/${a}/driver_override; echo ${a} > /sys/bus/pci/drivers_probe$`,
      )
      : new RegExp(
        `^Cannot launch VM: the IOMMU group of host PCI device ${a} "/sys/bus/pci/devices/${a}/iommu_group" does not exist; the host IOMMU is off: turn on VT-d or AMD-Vi in the firmware and boot the host with intel_iommu=on \\(Intel\\) or amd_iommu=on \\(AMD\\)$`,
      ),
  });
});

Deno.test("checkVfioHost says what stops a host device from being passed through", async () => {
  await assert.rejects(checkVfioHost("ffff:ff:1f.7"), {
    name: "TypeError",
    message:
      /^Cannot pass through host PCI device "ffff:ff:1f\.7": there is no such device \("\/sys\/bus\/pci\/devices\/ffff:ff:1f\.7" does not exist\); "lspci -D" lists them$/,
  });
  await assert.rejects(checkVfioHost("1:2"), { message: /^Cannot set vfio host to "1:2"/ });
  const device = await aHostPciDevice();
  if (device !== undefined && !device.grouped) {
    await assert.rejects(checkVfioHost(device.address), {
      message: new RegExp(
        `^Cannot pass through host PCI device "${device.address}": it is in no IOMMU group; the host IOMMU is off`,
      ),
    });
  }

  // This host has no device bound to vfio-pci: the rest is a copy of sysfs's layout, an Intel
  // NIC at 01:00.0 sharing IOMMU group 7 with 01:00.1.
  await using dir = await scratchDir();
  const root = dir.path;
  const sys = `${root}/sys`;
  const nic = `${sys}/bus/pci/devices/0000:01:00.0`;
  const sibling = `${sys}/bus/pci/devices/0000:01:00.1`;
  for (const path of [nic, sibling, `${sys}/kernel/iommu_groups/7/devices`, `${root}/dev/vfio`]) {
    await Deno.mkdir(path, { recursive: true });
  }
  for (const d of [nic, sibling]) {
    await Deno.symlink("../../../../kernel/iommu_groups/7", `${d}/iommu_group`);
    await Deno.symlink(d, `${sys}/kernel/iommu_groups/7/devices/${d.split("/").pop()}`);
  }
  const bind = (d: string, driver: string) =>
    Deno.remove(`${d}/driver`).catch(() => {}).then(() =>
      Deno.symlink(`../../../../bus/pci/drivers/${driver}`, `${d}/driver`)
    );

  await bind(nic, "e1000e");
  await assert.rejects(checkVfioHost("01:00.0", { root }), {
    message:
      /^Cannot pass through host PCI device "0000:01:00\.0": it is bound to e1000e, not vfio-pci; bind it, as root: modprobe vfio-pci; echo 0000:01:00\.0 > \/sys\/bus\/pci\/devices\/0000:01:00\.0\/driver\/unbind; echo vfio-pci > \/sys\/bus\/pci\/devices\/0000:01:00\.0\/driver_override; echo 0000:01:00\.0 > \/sys\/bus\/pci\/drivers_probe$/,
  });
  await Deno.remove(`${nic}/driver`);
  await assert.rejects(checkVfioHost("01:00.0", { root }), {
    message:
      /: it is bound to no driver, not vfio-pci; bind it, as root: modprobe vfio-pci; echo vfio-pci > /,
  });

  await bind(nic, "vfio-pci");
  await assert.rejects(checkVfioHost("01:00.0", { root }), {
    message: new RegExp(
      `: its IOMMU group's device "${root}/dev/vfio/7" does not exist; load VFIO: modprobe vfio-pci$`,
    ),
  });
  await Deno.writeFile(`${root}/dev/vfio/7`, new Uint8Array());
  await bind(sibling, "snd_hda_intel");
  await assert.rejects(checkVfioHost("01:00.0", { root }), {
    message:
      /: IOMMU group 7 also holds 0000:01:00\.1, bound to snd_hda_intel; VFIO takes a group whole: bind 0000:01:00\.1 to vfio-pci too, as root: modprobe vfio-pci; echo 0000:01:00\.1 > /,
  });
  await bind(sibling, "vfio-pci");
  await checkVfioHost("0000:01:00.0", { root });
  await Deno.remove(`${sibling}/driver`);
  await checkVfioHost("0000:01:00.0", { root });
});

Deno.test("a vhost-user-blk device needs shared memory and a backend that listens", async () => {
  const shared = vm({ arch: "x86_64" }).memory("256M", {
    backend: { type: "memfd", share: true },
  });
  const argv = shared
    .device({ kind: "vhost-user-blk", socket: "/run/vub.sock", numQueues: 2, bootIndex: 0 })
    .toArgv(argvOptions);
  // The chardev QEMU connects with, before the device that uses it.
  const chardev = argv.indexOf("socket,id=vhost-user-blk0-chr,path=/run/vub.sock,server=off");
  assert.equal(argv[chardev - 1], "-chardev");
  assert.ok(chardev < argv.findIndex((arg) => arg.includes('"vhost-user-blk-pci"')));
  assert.deepEqual(jsonOptions(argv, "-device"), [{
    driver: "vhost-user-blk-pci",
    id: "vhost-user-blk0",
    chardev: "vhost-user-blk0-chr",
    "num-queues": 2,
    bootindex: 0,
  }]);
  const microvm = shared.machine("microvm").device({ kind: "vhost-user-blk", socket: "/s" });
  assert.equal(jsonOptions(microvm.toArgv(argvOptions), "-device")[0].driver, "vhost-user-blk");

  assert.throws(
    () =>
      vm({ arch: "x86_64" }).device({ kind: "vhost-user-blk", socket: "/s" }).toArgv(argvOptions),
    {
      name: "TypeError",
      message:
        /^Cannot add vhost-user-blk device "vhost-user-blk0": its backend maps guest memory, and the VM has no shared memory backend; use \.memory\(size, \{ backend: \{ type: "memfd", share: true \} \}\)$/,
    },
  );
  assert.throws(
    () =>
      vm({ arch: "s390x" }).memory("256M", { backend: { type: "memfd", share: true } })
        .device({ kind: "vhost-user-blk", socket: "/s", id: "d" }).toArgv(argvOptions),
    {
      message:
        /^Cannot add vhost-user-blk device "d": QEMU 7\.2 has no vhost-user-blk for channel I\/O/,
    },
  );
  assert.throws(() => shared.device({ kind: "vhost-user-blk", socket: "/s", numQueues: 0 }), {
    name: "RangeError",
    message: /^Cannot set vhost-user-blk numQueues to 0: use a whole number from 1 to 1024$/,
  });
  assert.throws(() => shared.device({ kind: "vhost-user-blk", socket: `/${"s".repeat(120)}` }), {
    name: "RangeError",
    message: /a unix socket path holds at most 107/,
  });
  // Its chardev's id is taken too.
  assert.throws(
    () =>
      shared.chardev("d-chr", { backend: "null" }).device({
        kind: "vhost-user-blk",
        socket: "/s",
        id: "d",
      }),
    { message: /id "d-chr"/ },
  );

  await using dir = await scratchDir();
  const socket = `${dir.path}/none.sock`;
  await assert.rejects(
    shared.device({ kind: "vhost-user-blk", socket }).launch({ timeout: 10_000 }),
    {
      message: new RegExp(
        `^Cannot launch VM: vhost-user-blk socket "${socket}" does not exist; start the backend first, such as qemu-storage-daemon .*: qemu-storage-daemon --blockdev driver=file,node-name=disk,filename=IMAGE --export type=vhost-user-blk,id=disk,node-name=disk,addr\\.type=unix,addr\\.path=${socket},writable=on$`,
      ),
    },
  );
});

/** Polls until `path` exists (a socket a daemon makes). */
async function appears(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await Deno.lstat(path).then(() => true, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`"${path}" never appeared`);
}

Deno.test("a guest reads disks that qemu-storage-daemon serves over vhost-user-blk, at boot and hot-added", async () => {
  const g = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const disks = [
    { name: "boot", size: 48, text: "vmkit over vhost-user-blk" },
    { name: "hot", size: 32, text: "hot-added over vhost-user" },
  ];
  const args: string[] = [];
  for (const { name, size, text } of disks) {
    const data = new Uint8Array(size * 1024 * 1024);
    data.set(new TextEncoder().encode(text), 0);
    await Deno.writeFile(`${dir.path}/${name}.raw`, data);
    args.push(
      "--blockdev",
      `driver=file,node-name=${name},filename=${dir.path}/${name}.raw`,
      "--export",
      `type=vhost-user-blk,id=${name},node-name=${name},addr.type=unix,addr.path=${dir.path}/${name}.sock,writable=on`,
    );
  }
  const daemon = new Deno.Command("qemu-storage-daemon", {
    args,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await appears(`${dir.path}/boot.sock`);
    await appears(`${dir.path}/hot.sock`);
    await using machine = await vm({ arch: "x86_64" })
      .memory("256M", { backend: { type: "memfd", share: true } })
      .kernel(g.kernel, { initrd: g.initrd })
      .hotplugSlots(1)
      .device({ kind: "vhost-user-blk", socket: `${dir.path}/boot.sock`, numQueues: 1 })
      .launch({ timeout: 60_000, check: true });
    // 48 MiB in 512-byte sectors, and the bytes written at its start.
    assert.equal((await machine.console.exec("cat /sys/block/vda/size")).output, "98304");
    assert.equal((await machine.console.exec("head -c 25 /dev/vda")).output, disks[0].text);

    const added = await machine.addDevice({
      kind: "vhost-user-blk",
      socket: `${dir.path}/hot.sock`,
      numQueues: 1,
    });
    assert.deepEqual(added, { id: "vhost-user-blk1", kind: "vhost-user-blk", port: "vmkit-hp0" });
    let size = "";
    for (let i = 0; i < 100 && size !== "65536"; i++) {
      size = (await machine.console.exec("cat /sys/block/vdb/size 2>/dev/null")).output;
    }
    assert.equal(size, "65536");
    assert.equal((await machine.console.exec("head -c 25 /dev/vdb")).output, disks[1].text);
    await machine.removeDevice(added.id);
    const chardevs = await machine.qmp.execute("query-chardev");
    assert.ok(!chardevs.some((c) => c.label === "vhost-user-blk1-chr"), "its chardev is gone");
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
  }
});

Deno.test("a running VM refuses to hot-add a loader, an IOMMU or a root port", async () => {
  await using machine = await vm({ arch: "x86_64" }).paused().hotplugSlots(1).launch({
    timeout: 30_000,
  });
  await assert.rejects(machine.addDevice({ kind: "loader", file: "/dev/null", addr: 0 }), {
    name: "TypeError",
    message:
      /^Cannot hot-add loader device: the generic loader writes "\/dev\/null" into guest memory only when QEMU starts$/,
  });
  await assert.rejects(machine.addDevice({ kind: "iommu", model: "intel" }), {
    message:
      /^Cannot hot-add iommu device: an IOMMU must exist before the devices it translates for$/,
  });
  await assert.rejects(machine.addDevice({ kind: "pcie-root-port", id: "rp" }), {
    message:
      /^Cannot hot-add pcie-root-port device: a PCIe root port sits on a root bus, which takes no hot-added devices$/,
  });
});

Deno.test("the generic loader puts a file's bytes at a guest address before the guest runs", async () => {
  await using dir = await scratchDir();
  const blob = `${dir.path}/blob.bin`;
  await Deno.writeFile(blob, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x5a]));
  const builder = vm({ arch: "x86_64" })
    .memory("128M")
    .paused()
    .device({ kind: "loader", file: blob, addr: 0x200000, forceRaw: true })
    .device({ kind: "loader", file: blob, addr: 0x300010 });
  assert.deepEqual(jsonOptions(builder.toArgv(argvOptions), "-device"), [
    { driver: "loader", file: blob, addr: 0x200000, "force-raw": true },
    { driver: "loader", file: blob, addr: 0x300010 },
  ]);
  await using machine = await builder.launch({ timeout: 30_000, check: true });
  const read = (addr: string) =>
    machine.qmp.execute("human-monitor-command", { "command-line": `xp /5xb ${addr}` });
  assert.equal(await read("0x200000"), "0000000000200000: 0xde 0xad 0xbe 0xef 0x5a\r\n");
  assert.equal(await read("0x300010"), "0000000000300010: 0xde 0xad 0xbe 0xef 0x5a\r\n");
  assert.equal(await read("0x300000"), "0000000000300000: 0x00 0x00 0x00 0x00 0x00\r\n");
});

Deno.test("the generic loader refuses a raw image without an address and a missing file", async () => {
  const x86 = vm({ arch: "x86_64" });
  assert.throws(() => x86.device({ kind: "loader", file: "/f", forceRaw: true }), {
    name: "TypeError",
    message:
      /^Cannot set loader forceRaw without loader addr: a raw image needs the address to load it at$/,
  });
  assert.throws(() => x86.device({ kind: "loader", file: "/f", addr: -1 }), {
    name: "RangeError",
    message: /^Cannot set loader addr to -1: use a whole number from 0 to 9007199254740991$/,
  });
  assert.throws(() => x86.device({ kind: "loader", file: "a\nb" }), {
    message: /^Cannot set loader file to "a\\nb": newline and NUL are not allowed$/,
  });
  assert.deepEqual(
    jsonOptions(
      x86.device({ kind: "loader", file: "/k.elf", cpuNum: 0 }).toArgv(argvOptions),
      "-device",
    ),
    [{ driver: "loader", file: "/k.elf", "cpu-num": 0 }],
  );
  await using dir = await scratchDir();
  await assert.rejects(
    x86.device({ kind: "loader", file: `${dir.path}/none.bin`, addr: 0 }).launch({
      timeout: 10_000,
    }),
    {
      message: new RegExp(
        `^Cannot launch VM: loader file "${dir.path}/none\\.bin" does not exist$`,
      ),
    },
  );
});
