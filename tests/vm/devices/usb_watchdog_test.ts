import assert from "node:assert/strict";
import { initramfs, tinyGuest, tinyGuestModules, vm, VmBuilder } from "../../../mod.ts";
import type { QmpReturn } from "../../../lib/qmp/client.ts";
import { jsonOptions } from "../_argv.ts";
import { qcow2, scratchDir } from "../_disks.ts";

const RUNTIME = { accel: "tcg", runtimeDir: "/tmp/vmkit-usb" } as const;

/** The `-device` options a builder's argv has that a bare VM's has not, parsed. */
function addedDevices(builder: VmBuilder): Record<string, unknown>[] {
  const base = new Set(vm({ arch: builder.arch }).toArgv(RUNTIME));
  const argv = builder.toArgv(RUNTIME);
  return argv.flatMap((arg, i) =>
    arg === "-device" && !base.has(argv[i + 1]) ? [JSON.parse(argv[i + 1])] : []
  );
}

type PciDevice = QmpReturn<"query-pci">[number]["devices"][number];

/** Every PCI device, behind bridges too. */
function pciDevices(buses: QmpReturn<"query-pci">): PciDevice[] {
  const all: PciDevice[] = [];
  const walk = (devices: PciDevice[]) => {
    for (const device of devices) {
      all.push(device);
      walk(device.pci_bridge?.devices ?? []);
    }
  };
  for (const bus of buses) walk(bus.devices);
  return all;
}

Deno.test("USB input devices are on the xHCI controller, written once with a USB disk's", () => {
  const builder = vm({ arch: "x86_64" })
    .device({ kind: "usb", device: "tablet" })
    .drive("/srv/stick.img", { format: "raw", interface: "usb" })
    .device({ kind: "usb", device: "keyboard", id: "kbd" })
    .device({ kind: "usb", device: "mouse" });
  const devices = addedDevices(builder);
  assert.deepEqual(devices.filter((d) => d.driver === "qemu-xhci"), [
    { driver: "qemu-xhci", id: "vmkit-xhci" },
  ]);
  assert.deepEqual(devices.filter((d) => /^usb-(tablet|kbd|mouse)$/.test(d.driver as string)), [
    { driver: "usb-tablet", id: "usb0", bus: "vmkit-xhci.0" },
    { driver: "usb-kbd", id: "kbd", bus: "vmkit-xhci.0" },
    { driver: "usb-mouse", id: "usb2", bus: "vmkit-xhci.0" },
  ]);
  assert.equal(devices.find((d) => d.driver === "usb-storage")?.bus, "vmkit-xhci.0");
  assert.deepEqual(
    VmBuilder.fromJSON(builder.toJSON()).toArgv(RUNTIME),
    builder.toArgv(RUNTIME),
  );
});

Deno.test("a USB device is refused where there is no USB, and for a bad model or id", () => {
  assert.throws(() => vm({ arch: "s390x" }).device({ kind: "usb", device: "tablet" }), {
    name: "TypeError",
    message: "Cannot add usb tablet: QEMU has no USB for s390x",
  });
  assert.throws(
    () =>
      vm({ arch: "x86_64" }).machine("microvm").device({ kind: "usb", device: "mouse" })
        .toArgv(RUNTIME),
    {
      name: "TypeError",
      message: 'Cannot add usb mouse: machine "microvm" has no PCI bus for the xHCI controller',
    },
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).device({ kind: "usb", device: "joystick" as never }),
    /Cannot set usb device to "joystick": use "tablet", "keyboard", "mouse"/,
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).device({ kind: "usb", device: "tablet", id: "vmkit-x" }),
    /Cannot use usb device id "vmkit-x"/,
  );
  assert.throws(
    () =>
      vm({ arch: "x86_64" }).device({ kind: "usb", device: "tablet", id: "in" })
        .device({ kind: "usb", device: "mouse", id: "in" }),
    /id "in" is used by both usb device 0 and usb device 1/,
  );
});

Deno.test("a running VM has one xHCI controller for a USB disk and USB input devices, hot-added ones too", async () => {
  await using dir = await scratchDir();
  const stick = await qcow2(dir.path, "stick.qcow2", "16M");
  await using machine = await vm({ arch: "x86_64" })
    .paused()
    .device({ kind: "usb", device: "tablet" })
    .device({ kind: "usb", device: "keyboard", id: "kbd" })
    .drive(stick, { interface: "usb", id: "stick" })
    .launch({ timeout: 30_000 });
  const controllers = pciDevices(await machine.qmp.execute("query-pci"))
    .filter((d) => d.class_info.desc === "USB controller");
  assert.deepEqual(controllers.map((d) => d.qdev_id), ["vmkit-xhci"]);
  const peripherals = await machine.qmp.execute("qom-list", { path: "/machine/peripheral" });
  const types = Object.fromEntries(peripherals.map((p) => [p.name, p.type]));
  assert.equal(types.usb0, "child<usb-tablet>");
  assert.equal(types.kbd, "child<usb-kbd>");
  // QEMU's own list of the USB devices plugged in, with their ports on the one controller.
  const usb = await machine.qmp.execute("human-monitor-command", { "command-line": "info usb" });
  const lines = usb.trim().split(/\r?\n/).map((line) => line.trim()).sort();
  assert.equal(lines.length, 3, usb);
  assert.match(lines.join("\n"), /Product QEMU USB Keyboard, ID: kbd/);
  assert.match(lines.join("\n"), /Product QEMU USB Tablet, ID: usb0/);
  assert.match(lines.join("\n"), /Product QEMU USB MSD, ID: stick/);

  // Hot-added, a USB device joins the controller there; removed, it leaves it.
  assert.deepEqual(await machine.addDevice({ kind: "usb", device: "mouse", id: "mouse" }), {
    id: "mouse",
    kind: "usb",
  });
  const more = await machine.qmp.execute("human-monitor-command", { "command-line": "info usb" });
  assert.match(more, /Product QEMU USB Mouse, ID: mouse/);
  assert.equal(
    pciDevices(await machine.qmp.execute("query-pci"))
      .filter((d) => d.class_info.desc === "USB controller").length,
    1,
  );
  await machine.removeDevice("mouse");
  const after = await machine.qmp.execute("human-monitor-command", { "command-line": "info usb" });
  assert.doesNotMatch(after, /ID: mouse/);
});

Deno.test("the watchdog model follows the architecture, and its action is a -action option", () => {
  const watchdog = (builder: VmBuilder) => {
    const argv = builder.toArgv(RUNTIME);
    const action = argv.indexOf("-action");
    return {
      device: jsonOptions(argv, "-device").find((d) => d.id === "vmkit-watchdog"),
      action: action < 0 ? undefined : argv[action + 1],
    };
  };
  assert.deepEqual(watchdog(vm({ arch: "x86_64" }).device({ kind: "watchdog" })), {
    device: { driver: "i6300esb", id: "vmkit-watchdog" },
    action: undefined,
  });
  assert.deepEqual(
    watchdog(vm({ arch: "s390x" }).device({ kind: "watchdog", action: "inject-nmi" })),
    { device: { driver: "diag288", id: "vmkit-watchdog" }, action: "watchdog=inject-nmi" },
  );
  for (const arch of ["aarch64", "riscv64", "ppc64le"] as const) {
    assert.equal(watchdog(vm({ arch }).device({ kind: "watchdog" })).device?.driver, "i6300esb");
  }
  // One per VM: a second replaces the first.
  assert.deepEqual(
    watchdog(
      vm({ arch: "x86_64" }).device({ kind: "watchdog", action: "pause" })
        .device({ kind: "watchdog", model: "ib700", action: "poweroff" }),
    ),
    { device: { driver: "ib700", id: "vmkit-watchdog" }, action: "watchdog=poweroff" },
  );
  // microvm has no PCI bus, but an ISA one.
  assert.equal(
    watchdog(vm({ arch: "x86_64" }).machine("microvm").device({ kind: "watchdog", model: "ib700" }))
      .device?.driver,
    "ib700",
  );
  assert.deepEqual(
    VmBuilder.fromJSON({ arch: "x86_64", devices: [{ kind: "watchdog", action: "pause" }] })
      .toArgv(RUNTIME),
    vm({ arch: "x86_64" }).device({ kind: "watchdog", action: "pause" }).toArgv(RUNTIME),
  );
});

Deno.test("a watchdog the architecture or machine lacks, or an unknown action, is refused", () => {
  assert.throws(() => vm({ arch: "aarch64" }).device({ kind: "watchdog", model: "ib700" }), {
    name: "TypeError",
    message: 'Cannot add watchdog "ib700" on aarch64: QEMU has "i6300esb" there',
  });
  assert.throws(() => vm({ arch: "x86_64" }).device({ kind: "watchdog", model: "diag288" }), {
    message: 'Cannot add watchdog "diag288" on x86_64: QEMU has "i6300esb" and "ib700" there',
  });
  assert.throws(() => vm({ arch: "s390x" }).device({ kind: "watchdog", model: "i6300esb" }), {
    message: 'Cannot add watchdog "i6300esb" on s390x: QEMU has "diag288" there',
  });
  assert.throws(
    () => vm({ arch: "x86_64" }).machine("microvm").device({ kind: "watchdog" }).toArgv(RUNTIME),
    {
      name: "TypeError",
      message:
        'Cannot add watchdog "i6300esb": machine "microvm" has no PCI bus for it; use model "ib700"',
    },
  );
  assert.throws(
    () =>
      VmBuilder.fromJSON({ arch: "x86_64", devices: [{ kind: "watchdog", action: "explode" }] }),
    /devices\[0\]\.action to "explode": use "reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi"/,
  );
  assert.throws(
    () =>
      VmBuilder.fromJSON({
        arch: "x86_64",
        devices: [{ kind: "watchdog" }, { kind: "watchdog", model: "ib700" }],
      }),
    /devices\[1\]: a VM has one watchdog device, and devices\[0\] is one already/,
  );
});

Deno.test("watchdogs and USB devices plug in on every architecture that has them", async () => {
  const machines: [VmBuilder, string][] = [
    [vm({ arch: "x86_64" }), "i6300esb"],
    [vm({ arch: "x86_64" }).machine("microvm"), "ib700"],
    [vm({ arch: "aarch64" }), "i6300esb"],
    [vm({ arch: "riscv64" }), "i6300esb"],
    [vm({ arch: "ppc64le" }), "i6300esb"],
    [vm({ arch: "s390x" }), "diag288"],
  ];
  for (const [builder, model] of machines) {
    const usb = builder.arch !== "s390x" && builder.transport !== "mmio";
    let described = builder.paused().device({ kind: "watchdog", model: model as never });
    if (usb) described = described.device({ kind: "usb", device: "keyboard" });
    await using machine = await described.launch({ timeout: 30_000 });
    const peripherals = await machine.qmp.execute("qom-list", { path: "/machine/peripheral" });
    const types = Object.fromEntries(peripherals.map((p) => [p.name, p.type]));
    const what = `${builder.arch} ${builder.machineType}`;
    assert.equal(types["vmkit-watchdog"], `child<${model}>`, what);
    if (usb) {
      assert.equal(types["vmkit-xhci"], "child<qemu-xhci>", what);
      assert.equal(types.usb0, "child<usb-kbd>", what);
    }
  }
});

Deno.test("a guest that stops feeding its i6300esb watchdog has QEMU pause the VM", async () => {
  // The x86_64 tiny guest's cloud kernel has no i6300esb driver; Debian's generic arm64 kernel
  // has it as a module, and the virt machine has PCI for the device.
  const guest = await tinyGuest("aarch64");
  assert.ok(
    guest.modulesDir,
    "the aarch64 tiny guest has its kernel modules; run ./scripts/setup.sh",
  );
  await using dir = await scratchDir();
  const initrd = `${dir.path}/initrd.img`;
  await Deno.writeFile(
    initrd,
    await initramfs()
      .busybox(`${guest.modulesDir}/../../../busybox`)
      .modules(guest.modulesDir, [...tinyGuestModules("aarch64"), "i6300esb"])
      // A 1 s heartbeat instead of the driver's 30 s: the init's modprobe reads this.
      .file("etc/modprobe.d/i6300esb.conf", "options i6300esb heartbeat=1\n")
      .build(),
  );
  await using machine = await vm({ arch: "aarch64" })
    .memory("256M")
    .kernel(guest.kernel, { initrd })
    .device({ kind: "watchdog", action: "pause" })
    .launch({ timeout: 120_000 });
  const identity = await machine.console.exec("cat /sys/class/watchdog/watchdog0/identity");
  assert.deepEqual(identity, { output: "i6300ESB timer", exitCode: 0 });
  assert.equal(
    (await machine.console.exec("cat /sys/class/watchdog/watchdog0/timeout")).output,
    "1",
  );
  assert.equal((await machine.qmp.execute("query-status")).status, "running");

  const fired = machine.qmp.waitForEvent("WATCHDOG", { timeout: 30_000 });
  // Opening /dev/watchdog starts it; nothing ever writes to it again.
  await machine.console.exec("sleep 1000 > /dev/watchdog &");
  assert.deepEqual((await fired).data, { action: "pause" });
  assert.equal((await machine.qmp.execute("query-status")).status, "watchdog");
});
