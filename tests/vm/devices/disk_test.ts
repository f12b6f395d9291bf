import assert from "node:assert/strict";
import { tinyGuestWith } from "../_guest.ts";
import { type Vm, vm, VmBuilder } from "../../../mod.ts";
import { jsonOptions } from "../_argv.ts";
import { qcow2, scratchDir } from "../_disks.ts";

const MiB = 1024 * 1024;

/** A raw image of `size` bytes that starts with `head` (a CD-ROM's "ISO" or a disk's data). */
async function rawImage(dir: string, name: string, size: number, head = ""): Promise<string> {
  const bytes = new Uint8Array(size);
  bytes.set(new TextEncoder().encode(head));
  await Deno.writeFile(`${dir}/${name}`, bytes);
  return `${dir}/${name}`;
}

async function startsWith(path: string, text: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  return new TextDecoder().decode(bytes.subarray(0, text.length)) === text;
}

async function allZero(path: string): Promise<boolean> {
  return (await Deno.readFile(path)).every((byte) => byte === 0);
}

async function run(machine: Vm, command: string): Promise<string> {
  const { output, exitCode } = await machine.console.exec(command);
  assert.equal(exitCode, 0, `"${command}" failed: ${output}`);
  return output;
}

/** The guest's block devices: name → [size in 512-byte sectors, read-only flag]. */
async function blockDevices(machine: Vm): Promise<Map<number, { name: string; ro: string }>> {
  const out = await run(
    machine,
    "cd /sys/block && for d in *; do echo $d $(cat $d/size) $(cat $d/ro); done",
  );
  const devices = new Map<number, { name: string; ro: string }>();
  for (const line of out.split("\n").filter(Boolean)) {
    const [name, size, ro] = line.split(" ");
    devices.set(Number(size), { name, ro });
  }
  return devices;
}

/** Waits until the guest has `count` block devices (USB and SCSI disks show up late). */
async function untilBlockDevices(machine: Vm, count: number): Promise<void> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    last = await run(machine, "ls /sys/block");
    if (last.split(/\s+/).filter(Boolean).length === count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`the guest never had ${count} block devices; last: ${last}`);
}

/** The serial of a SCSI or ATA disk, from its VPD page 0x80 (4 header bytes, then the serial). */
async function vpdSerial(machine: Vm, name: string): Promise<string> {
  return (await run(machine, `tail -c +5 /sys/block/${name}/device/vpd_pg80`)).trim();
}

/** The guest-visible ranges of a qcow2 that hold data, read while or after QEMU has it open. */
async function dataExtents(path: string): Promise<{ start: number; end: number }[]> {
  const { success, stdout, stderr } = await new Deno.Command("qemu-img", {
    args: ["map", "-U", "--output=json", path],
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const extents = JSON.parse(new TextDecoder().decode(stdout)) as {
    start: number;
    length: number;
    data: boolean;
  }[];
  return extents.filter((e) => e.data).map((e) => ({ start: e.start, end: e.start + e.length }));
}

function overlaps(extents: { start: number; end: number }[], start: number, end: number): boolean {
  return extents.some((e) => e.start < end && start < e.end);
}

function covers(extents: { start: number; end: number }[], start: number, end: number): boolean {
  let at = start;
  for (const e of [...extents].sort((a, b) => a.start - b.start)) {
    if (e.start <= at && e.end > at) at = e.end;
  }
  return at >= end;
}

async function allocatedBytes(path: string): Promise<number> {
  return (await Deno.stat(path)).blocks! * 512;
}

Deno.test("x86_64 pc guest sees virtio-blk, SCSI, NVMe and IDE disks and CD-ROMs with their sizes, serials and modes", async () => {
  await using dir = await scratchDir();
  // The cloud kernel has no AHCI driver: pc's PIIX IDE (ata_piix) it has.
  const guest = await tinyGuestWith("x86_64", dir.path, { onDemand: ["ata_piix", "sr_mod"] });
  const vblk = await qcow2(dir.path, "vblk.qcow2", "64M");
  const scsiHd = await rawImage(dir.path, "scsi.raw", 32 * MiB, "scsi read-only data");
  const scsiCd = await rawImage(dir.path, "scsi.iso", 2 * MiB, "CD001 vmkit scsi cdrom");
  const nvme = await rawImage(dir.path, "nvme.raw", 48 * MiB);
  const ideHd = await rawImage(dir.path, "ide.raw", 40 * MiB);
  const ideCd = await rawImage(dir.path, "ide.iso", 3 * MiB, "CD001 vmkit ide cdrom");
  const scsiSerial = "vmkit-scsi-serial-".padEnd(36, "0");
  {
    await using machine = await vm({ arch: "x86_64" })
      .machine("pc")
      .memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd })
      .drive(vblk, {
        id: "vblk",
        discard: true,
        detectZeroes: "unmap",
        iothread: true,
        serial: "vmkit-virtio-serial1",
      })
      .drive(scsiHd, { id: "scsihd", interface: "scsi", readOnly: true, serial: scsiSerial })
      .drive(scsiCd, { id: "scsicd", media: "cdrom" })
      .drive(nvme, {
        id: "nvme",
        interface: "nvme",
        snapshot: true,
        serial: "vmkit-nvme-serial-01",
      })
      .drive(ideHd, {
        id: "idehd",
        interface: "ide",
        cache: "writethrough",
        serial: "vmkit-ide-serial-001",
      })
      .drive(ideCd, { id: "idecd", interface: "ide", media: "cdrom" })
      .launch({ timeout: 60_000 });
    await untilBlockDevices(machine, 6);
    const devices = await blockDevices(machine);
    const name = (mib: number) => {
      const device = devices.get(mib * 2048);
      assert.ok(device, `no ${mib} MiB disk in ${JSON.stringify([...devices])}`);
      return device;
    };
    assert.deepEqual(name(64), { name: "vda", ro: "0" });
    assert.deepEqual(name(48), { name: "nvme0n1", ro: "0" });
    const scsi = name(32), ide = name(40), scd = name(2), icd = name(3);
    assert.deepEqual([scsi.ro, ide.ro, scd.ro, icd.ro], ["1", "0", "1", "1"]);
    assert.match(`${scsi.name} ${ide.name} ${scd.name} ${icd.name}`, /^sd. sd. sr. sr.$/);

    // Serials, each as long as its interface shows whole.
    assert.equal(await run(machine, "cat /sys/block/vda/serial"), "vmkit-virtio-serial1");
    assert.equal(
      (await run(machine, "cat /sys/block/nvme0n1/device/serial")).trim(),
      "vmkit-nvme-serial-01",
    );
    assert.equal(await vpdSerial(machine, scsi.name), scsiSerial);
    assert.equal(await vpdSerial(machine, ide.name), "vmkit-ide-serial-001");

    // CD-ROMs read their image, and refuse writes.
    const cdroms: [string, string][] = [
      [scd.name, "CD001 vmkit scsi cdrom"],
      [icd.name, "CD001 vmkit ide cdrom"],
    ];
    for (const [cd, text] of cdroms) {
      assert.equal(
        await run(machine, `dd if=/dev/${cd} bs=2048 count=1 2>/dev/null | head -c ${text.length}`),
        text,
      );
      assert.notEqual((await machine.console.exec(`echo x | dd of=/dev/${cd}`)).exitCode, 0);
    }
    // readOnly: the write is refused.
    assert.notEqual(
      (await machine.console.exec(`echo x | dd of=/dev/${scsi.name} conv=fsync`)).exitCode,
      0,
    );
    // snapshot: the guest writes and reads back; the file keeps its zeroes (checked below).
    await run(machine, "printf vmkit-snapshot | dd of=/dev/nvme0n1 conv=fsync 2>/dev/null");
    assert.equal(await run(machine, "head -c 14 /dev/nvme0n1"), "vmkit-snapshot");
    // writethrough: the guest sees a write-through disk, and the data reaches the file.
    assert.equal(
      await run(machine, `cat /sys/block/${ide.name}/queue/write_cache`),
      "write through",
    );
    await run(machine, `printf vmkit-ide | dd of=/dev/${ide.name} conv=fsync 2>/dev/null`);

    // iothread: the disk runs in its own iothread, and does the I/O below.
    const iothread = await machine.qmp.execute("qom-get", {
      path: "/machine/peripheral/vblk",
      property: "iothread",
    });
    assert.equal(iothread, "/objects/vblk-io");
    // discard + detectZeroes "unmap": 4 MiB of data at 0 and at 8 MiB, then discarded and
    // overwritten with zeroes.
    await run(
      machine,
      "for at in 0 8; do dd if=/dev/urandom of=/dev/vda bs=1M seek=$at count=4 oflag=direct conv=fsync 2>/dev/null; done",
    );
    const written = await dataExtents(vblk);
    assert.ok(covers(written, 0, 4 * MiB) && covers(written, 8 * MiB, 12 * MiB));
    const allocated = await allocatedBytes(vblk);
    assert.ok(allocated > 8 * MiB, `${allocated} bytes allocated`);
    await run(machine, `blkdiscard -o 0 -l ${4 * MiB} /dev/vda`);
    await run(
      machine,
      "dd if=/dev/zero of=/dev/vda bs=1M seek=8 count=4 oflag=direct conv=fsync 2>/dev/null",
    );
  }
  const freed = await dataExtents(vblk);
  assert.ok(
    !overlaps(freed, 0, 4 * MiB),
    `discarded range still has data: ${JSON.stringify(freed)}`,
  );
  assert.ok(
    !overlaps(freed, 8 * MiB, 12 * MiB),
    `zeroed range still has data: ${JSON.stringify(freed)}`,
  );
  assert.ok(await allocatedBytes(vblk) < 1 * MiB, "the file gave its clusters back");
  assert.ok(await allZero(nvme), "a snapshot drive's file is unchanged");
  assert.ok(await startsWith(ideHd, "vmkit-ide"));
  assert.ok(await startsWith(scsiHd, "scsi read-only data"));
});

Deno.test("aarch64 virt guest sees NVMe, AHCI and USB disks and an AHCI CD-ROM with their sizes, serials and modes", async () => {
  await using dir = await scratchDir();
  // Debian's generic arm64 kernel has these drivers as modules.
  const guest = await tinyGuestWith("aarch64", dir.path, {
    onDemand: [
      "nvme",
      "ahci",
      "sr_mod",
      "xhci_pci",
      "usb_storage",
    ],
  });
  const nvme = await rawImage(dir.path, "nvme.raw", 48 * MiB, "nvme data");
  const ideHd = await rawImage(dir.path, "ide.raw", 40 * MiB);
  const ideCd = await rawImage(dir.path, "ide.iso", 3 * MiB, "CD001 vmkit ahci cdrom");
  const usbHd = await rawImage(dir.path, "usb.raw", 24 * MiB);
  const usbRo = await rawImage(dir.path, "usb-ro.raw", 20 * MiB, "usb data");
  const usbSerial = "vmkit-usb-serial-".padEnd(126, "0");
  {
    await using machine = await vm({ arch: "aarch64" })
      .memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd })
      .drive(nvme, { id: "nvme", interface: "nvme", readOnly: true, serial: "vmkit-nvme-ro" })
      .drive(ideHd, { id: "idehd", interface: "ide", serial: "vmkit-ahci-serial-01" })
      .drive(ideCd, { id: "idecd", interface: "ide", media: "cdrom" })
      .drive(usbHd, { id: "usbhd", interface: "usb", serial: usbSerial, bootIndex: 1 })
      .drive(usbRo, { id: "usbro", interface: "usb", readOnly: true })
      .launch({ timeout: 60_000 });
    await untilBlockDevices(machine, 5);
    const devices = await blockDevices(machine);
    const name = (mib: number) => {
      const device = devices.get(mib * 2048);
      assert.ok(device, `no ${mib} MiB disk in ${JSON.stringify([...devices])}`);
      return device;
    };
    // QEMU 7.2's NVMe does not tell the guest it is read-only: its writes fail instead.
    assert.deepEqual(name(48), { name: "nvme0n1", ro: "0" });
    const ide = name(40), cd = name(3), usb = name(24), usbReadOnly = name(20);
    assert.deepEqual([ide.ro, cd.ro, usb.ro, usbReadOnly.ro], ["0", "1", "0", "1"]);
    assert.equal(cd.name, "sr0");

    assert.equal(
      (await run(machine, "cat /sys/block/nvme0n1/device/serial")).trim(),
      "vmkit-nvme-ro",
    );
    assert.equal(await vpdSerial(machine, ide.name), "vmkit-ahci-serial-01");
    assert.ok(
      (await run(machine, "cat /sys/bus/usb/devices/*/serial")).split("\n").includes(usbSerial),
    );

    assert.equal(
      await run(machine, "dd if=/dev/sr0 bs=2048 count=1 2>/dev/null | head -c 22"),
      "CD001 vmkit ahci cdrom",
    );
    for (const readOnly of ["nvme0n1", usbReadOnly.name]) {
      assert.notEqual(
        (await machine.console.exec(`echo x | dd of=/dev/${readOnly} conv=fsync`)).exitCode,
        0,
        `a write to ${readOnly} was refused`,
      );
    }
    await run(machine, `printf vmkit-ahci | dd of=/dev/${ide.name} conv=fsync 2>/dev/null`);
    await run(machine, `printf vmkit-usb | dd of=/dev/${usb.name} conv=fsync 2>/dev/null`);
  }
  assert.ok(await startsWith(ideHd, "vmkit-ahci"));
  assert.ok(await startsWith(usbHd, "vmkit-usb"));
  assert.ok(await startsWith(nvme, "nvme data"));
  assert.ok(await startsWith(usbRo, "usb data"));
});

/** The IDE bus and unit QEMU put each device on. */
async function idePlaces(machine: Vm, ids: string[]): Promise<string[]> {
  const places: string[] = [];
  for (const id of ids) {
    const path = `/machine/peripheral/${id}`;
    const bus = await machine.qmp.execute("qom-get", { path, property: "parent_bus" });
    const unit = await machine.qmp.execute("qom-get", { path, property: "unit" });
    places.push(`${String(bus).split("/").pop()}:${unit}`);
  }
  return places;
}

Deno.test("IDE drives fill q35's six AHCI ports and pc's two buses of two units, and one more is refused", async () => {
  await using dir = await scratchDir();
  const images: string[] = [];
  for (let i = 0; i < 7; i++) images.push(await rawImage(dir.path, `${i}.raw`, MiB));
  const ids = images.map((_, i) => `ide${i}`);
  const withIde = (machine: string, count: number) => {
    let builder = vm({ arch: "x86_64" }).machine(machine).paused();
    for (let i = 0; i < count; i++) {
      builder = builder.drive(images[i], {
        id: ids[i],
        format: "raw",
        interface: "ide",
        ...i % 3 === 2 ? { media: "cdrom" as const } : {},
      });
    }
    return builder;
  };
  {
    await using q35 = await withIde("q35", 6).launch({ timeout: 30_000 });
    assert.deepEqual(await idePlaces(q35, ids.slice(0, 6)), [
      "ide.0:0",
      "ide.1:0",
      "ide.2:0",
      "ide.3:0",
      "ide.4:0",
      "ide.5:0",
    ]);
  }
  {
    await using pc = await withIde("pc", 4).launch({ timeout: 30_000 });
    assert.deepEqual(await idePlaces(pc, ids.slice(0, 4)), [
      "ide.0:0",
      "ide.0:1",
      "ide.1:0",
      "ide.1:1",
    ]);
  }
  assert.throws(() => withIde("pc-q35-7.2", 7).toArgv(), {
    name: "RangeError",
    message:
      'Cannot add drive "ide6" on interface "ide": the six ports (ide.0 to ide.5) of machine "pc-q35-7.2" are all in use; use "scsi" (CD-ROMs too) or another interface',
  });
  assert.throws(
    () => withIde("pc-i440fx-7.2", 5).toArgv(),
    /drive "ide4" on interface "ide": the two units of ide\.0 and ide\.1 of machine "pc-i440fx-7\.2" are all in use/,
  );
  // A versioned q35 has six ports, not pc's four.
  assert.equal(jsonOptions(withIde("pc-q35-7.2", 6).toArgv(), "-device")[5].bus, "ide.5");
});

Deno.test("every interface gets its QEMU 7.2 device, controller and properties", () => {
  const argv = (arch: "x86_64" | "aarch64", drives: [string, object][]) => {
    let builder = vm({ arch });
    for (const [file, options] of drives) {
      builder = builder.drive(file, { format: "raw", ...options });
    }
    return jsonOptions(builder.toArgv(), "-device");
  };
  const devices = argv("aarch64", [
    ["a", { interface: "usb", serial: "u1", bootIndex: 2, cache: "writeback" }],
    ["b", { interface: "usb" }],
    ["c", { interface: "nvme", id: "a-very-long-drive-id-for-nvme", cache: "directsync" }],
    ["d", { interface: "ide", media: "cdrom" }],
    ["e", { interface: "ide", cache: "writethrough" }],
    ["f", { interface: "scsi", serial: "s,1" }],
  ]);
  assert.deepEqual(devices, [
    { driver: "qemu-xhci", id: "vmkit-xhci" },
    // usb-storage takes a serial (its USB serial number) and a boot index.
    {
      driver: "usb-storage",
      drive: "drive0",
      id: "drive0",
      bus: "vmkit-xhci.0",
      serial: "u1",
      bootindex: 2,
    },
    { driver: "usb-storage", drive: "drive1", id: "drive1", bus: "vmkit-xhci.0" },
    // An NVMe controller needs a serial: the id's first 20 characters.
    {
      driver: "nvme",
      drive: "a-very-long-drive-id-for-nvme",
      id: "a-very-long-drive-id-for-nvme",
      serial: "a-very-long-drive-id",
      "write-cache": "off",
    },
    // aarch64 has no IDE of its own: an ich9-ahci, one drive per port.
    { driver: "ich9-ahci", id: "vmkit-ahci" },
    { driver: "ide-cd", drive: "drive3", id: "drive3", bus: "vmkit-ahci.0" },
    { driver: "ide-hd", drive: "drive4", id: "drive4", bus: "vmkit-ahci.1", "write-cache": "off" },
    { driver: "virtio-scsi-pci", id: "vmkit-scsi" },
    { driver: "scsi-hd", drive: "drive5", id: "drive5", bus: "vmkit-scsi.0", serial: "s,1" },
  ]);
  const blockdevs = jsonOptions(
    vm({ arch: "x86_64" }).drive("a", { format: "qcow2", discard: true, detectZeroes: "unmap" })
      .toArgv(),
    "-blockdev",
  );
  assert.deepEqual(blockdevs, [{
    driver: "qcow2",
    "node-name": "drive0",
    "read-only": false,
    discard: "unmap",
    "detect-zeroes": "unmap",
    file: { driver: "file", filename: "a", "read-only": false, discard: "unmap" },
  }]);
  // A snapshot drive on USB may be write-through: -drive sets it, and usb-storage keeps it.
  assert.ok(
    vm({ arch: "x86_64" }).drive("a", {
      format: "raw",
      interface: "usb",
      snapshot: true,
      cache: "writethrough",
    }).toArgv().includes(
      "driver=raw,file.driver=file,file.filename=a,if=none,id=drive0,snapshot=on,cache=writethrough",
    ),
  );
});

Deno.test("drive options that cannot work together are refused when added, naming both", () => {
  const base = vm({ arch: "x86_64" });
  const cases: [object, RegExp][] = [
    [{ media: "cdrom", interface: "virtio-blk" }, /as media "cdrom" on interface "virtio-blk"/],
    [{ media: "cdrom", interface: "nvme" }, /as media "cdrom" on interface "nvme"/],
    [{ media: "cdrom", interface: "usb" }, /as media "cdrom" on interface "usb"/],
    [{ media: "cdrom", readOnly: false }, /as media "cdrom" with readOnly false/],
    [{ interface: "ide", readOnly: true }, /with readOnly on interface "ide": QEMU's IDE hard/],
    [{ interface: "scsi", iothread: true }, /with iothread on interface "scsi"/],
    [{ media: "cdrom", iothread: true }, /with iothread on interface "scsi"/],
    [{ aio: "native", cache: "writeback" }, /with aio "native": it needs cache "none"/],
    [{ detectZeroes: "unmap" }, /with detectZeroes "unmap" without discard/],
    [{ readOnly: true, discard: true }, /with discard and readOnly/],
    [{ media: "cdrom", discard: true }, /with discard and media "cdrom"/],
    [{ readOnly: true, detectZeroes: "on" }, /with detectZeroes "on" and readOnly/],
    [{ interface: "usb", cache: "writethrough" }, /with cache "writethrough" on interface "usb"/],
    [{ interface: "usb", cache: "directsync" }, /with cache "directsync" on interface "usb"/],
    [{ serial: "x".repeat(21) }, /it is 21 characters, and the guest sees at most 20/],
    [{ interface: "nvme", serial: "x".repeat(21) }, /on interface "nvme": .* at most 20/],
    [{ interface: "ide", serial: "x".repeat(21) }, /on interface "ide": .* at most 20/],
    [{ interface: "scsi", serial: "x".repeat(37) }, /on interface "scsi": .* at most 36/],
    [{ interface: "usb", serial: "x".repeat(127) }, /on interface "usb": .* at most 126/],
    [{ serial: "" }, /serial "": use printable ASCII/],
    [{ serial: "sé" }, /serial "sé": use printable ASCII/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => base.drive("d.img", options), message, JSON.stringify(options));
  }
  // At the limits, they are taken.
  base.drive("d", { interface: "scsi", serial: "x".repeat(36) });
  base.drive("d", { interface: "usb", serial: "x".repeat(126) });
  base.drive("d", { media: "cdrom", readOnly: true, snapshot: true, detectZeroes: "off" });
  base.drive("d", { interface: "usb", cache: "writethrough", snapshot: true });
});

Deno.test("NVMe, IDE and USB drives are refused where there is no PCI, naming the machine", () => {
  const drive = (b: ReturnType<typeof vm>, iface: "nvme" | "ide" | "usb") =>
    b.drive("d", { format: "raw", interface: iface }).toArgv();
  for (const iface of ["nvme", "ide", "usb"] as const) {
    assert.throws(() => drive(vm({ arch: "s390x" }), iface), {
      name: "TypeError",
      message:
        `Cannot add drive "drive0" on interface "${iface}": QEMU for s390x has no NVMe, IDE or USB controller; use "virtio-blk" or "scsi"`,
    });
    assert.throws(
      () => drive(vm({ arch: "x86_64" }).machine("microvm"), iface),
      /on interface ".*": machine "microvm" has no PCI bus, which NVMe, IDE \(ich9-ahci\) and USB \(qemu-xhci\) controllers need/,
    );
  }
  // virtio-scsi goes on the machine's own transport.
  const scsi = (b: ReturnType<typeof vm>) =>
    jsonOptions(b.drive("d", { format: "raw", interface: "scsi" }).toArgv(), "-device")[0];
  assert.equal(scsi(vm({ arch: "s390x" })).driver, "virtio-scsi-ccw");
  assert.equal(scsi(vm({ arch: "x86_64" }).machine("microvm")).driver, "virtio-scsi-device");
});

Deno.test("fromJSON names the drive field that is wrong, and the options that conflict", () => {
  const cases: [unknown, RegExp][] = [
    [
      { arch: "x86_64", drives: [{ file: "a" }, { file: "b", cache: "fast" }] },
      /^TypeError: Cannot read VM description: drives\[1\]: set drives\[1\]\.cache to "fast": use "none", "writeback", "writethrough", "directsync", "unsafe"$/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", speed: 1 }] },
      /^TypeError: Cannot read VM description: drives\[0\]: .*unknown field "speed"; use "file", "id", /,
    ],
    [
      {
        arch: "x86_64",
        drives: [{ file: "a" }, { file: "b", media: "cdrom", interface: "virtio-blk" }],
      },
      /^TypeError: Cannot read VM description: drives\[1\]: add drive "b" as media "cdrom" on interface "virtio-blk": CD-ROMs attach on "scsi" \(default\) or "ide"$/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", interface: "sata" }] },
      /drives\[0\]\.interface to "sata": use "virtio-blk", "scsi", "nvme", "ide", "usb"/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", interface: "ide", readOnly: true }] },
      /drives\[0\]: add drive "a" with readOnly on interface "ide"/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", bootIndex: 1.5 }] },
      /^RangeError: .*drives\[0\]\.bootIndex to 1\.5: use a whole number from 0 to 1000$/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", readOnly: "yes" }] },
      /drives\[0\]\.readOnly to "yes": use true or false/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", serial: "x".repeat(37), interface: "scsi" }] },
      /^RangeError: .*drives\[0\]: add drive "a" with serial "x+" on interface "scsi": it is 37/,
    ],
    [{ arch: "x86_64", drives: [{ cache: "none" }] }, /drives\[0\]\.file to undefined/],
  ];
  for (const [json, message] of cases) {
    assert.throws(() => VmBuilder.fromJSON(json), (error: Error) => {
      assert.match(`${error.name}: ${error.message}`, message, JSON.stringify(json));
      return true;
    });
  }
  // What only the machine decides is found when the description is read, as with the builder
  // when the command line is written.
  assert.throws(
    () => VmBuilder.fromJSON({ arch: "s390x", drives: [{ file: "a", interface: "usb" }] }),
    /^TypeError: Cannot read VM description: add drive "drive0" on interface "usb": QEMU for s390x has no/,
  );
});
