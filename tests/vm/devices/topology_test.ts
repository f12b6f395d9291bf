import assert from "node:assert/strict";
import { tinyGuest, vm, VmBuilder } from "../../../mod.ts";
import { deviceDrivers, jsonOptions } from "../_argv.ts";

const argvOptions = { accel: "tcg", runtimeDir: "/tmp/vmkit-test" } as const;

/** One PCI device of `query-pci`, with the devices behind it when it is a bridge. */
interface PciNode {
  qdev_id: string;
  bus: number;
  class_info: { class: number };
  pci_bridge?: { devices?: PciNode[] };
}

/** The qdev ids of a `query-pci` tree, each with the id of the bridge it sits behind. */
function pciParents(nodes: readonly PciNode[], parent = ""): Map<string, string> {
  const parents = new Map<string, string>();
  for (const node of nodes) {
    if (node.qdev_id !== "") parents.set(node.qdev_id, parent);
    for (const [id, p] of pciParents(node.pci_bridge?.devices ?? [], node.qdev_id)) {
      parents.set(id, p);
    }
  }
  return parents;
}

Deno.test("root ports and bridges get unique chassis numbers clear of vmkit's hotplug slots", () => {
  const argv = vm({ arch: "x86_64" })
    .hotplugSlots(2)
    .device({ kind: "pci-bridge", id: "b1" })
    .device({ kind: "pcie-root-port", id: "rp1" })
    .device({ kind: "pcie-root-port", id: "rp2" })
    .device({ kind: "pcie-root-port", id: "rp3", chassis: 5, slot: 2, bus: "pcie.0" })
    .device({ kind: "pcie-pci-bridge", id: "pb" })
    .device({ kind: "pci-bridge", id: "b2", bus: "pb", chassis: 7 })
    .device({ kind: "pci-bridge", id: "b3" })
    .device({ kind: "rng" })
    .toArgv(argvOptions);
  // Ports and bridges first (by kind: root ports, PCIe-to-PCI bridges, PCI bridges), before the
  // hotplug root ports and the other devices, so devices can be placed on them.
  assert.deepEqual(deviceDrivers(argv).slice(8), [
    "virtio-rng-pci",
    "pcie-root-port",
    "pcie-root-port",
  ]);
  assert.deepEqual(jsonOptions(argv, "-device").filter((d) => d.driver !== "virtio-rng-pci"), [
    { driver: "pcie-root-port", id: "rp1", chassis: 33 },
    { driver: "pcie-root-port", id: "rp2", chassis: 34 },
    { driver: "pcie-root-port", id: "rp3", chassis: 5, slot: 2, bus: "pcie.0" },
    { driver: "pcie-pci-bridge", id: "pb" },
    // A bridge that names no bus goes behind vmkit's PCIe-to-PCI bridge, written once.
    { driver: "pcie-pci-bridge", id: "vmkit-pcie-pci-bridge" },
    { driver: "pci-bridge", id: "b1", chassis_nr: 255, bus: "vmkit-pcie-pci-bridge", addr: "1" },
    { driver: "pci-bridge", id: "b2", chassis_nr: 7, bus: "pb" },
    { driver: "pci-bridge", id: "b3", chassis_nr: 253, bus: "vmkit-pcie-pci-bridge", addr: "3" },
    { driver: "pcie-root-port", id: "vmkit-hp0", chassis: 1 },
    { driver: "pcie-root-port", id: "vmkit-hp1", chassis: 2 },
  ]);

  // On pc, a PCI-PCI bridge sits on the PCI bus itself.
  const pc = vm({ arch: "x86_64" }).profile("classic").device({ kind: "pci-bridge", id: "b" });
  assert.deepEqual(jsonOptions(pc.toArgv(argvOptions), "-device"), [
    { driver: "pci-bridge", id: "b", chassis_nr: 255 },
  ]);

  // A JSON description says the same.
  const fromJson = VmBuilder.fromJSON({
    arch: "aarch64",
    devices: [{ kind: "pcie-root-port", id: "rp", chassis: 200 }, { kind: "pci-bridge", id: "b" }],
  });
  assert.deepEqual(deviceDrivers(fromJson.toArgv(argvOptions)), [
    "pcie-root-port",
    "pcie-pci-bridge",
    "pci-bridge",
  ]);
  assert.deepEqual(fromJson.toJSON().devices, [
    { kind: "pcie-root-port", id: "rp", chassis: 200 },
    { kind: "pci-bridge", id: "b" },
  ]);
});

Deno.test("root ports and bridges refuse clashing chassis numbers, bad values and the wrong machine", () => {
  const x86 = vm({ arch: "x86_64" });
  // The hotplug slots' chassis (with slot 0) are vmkit's.
  assert.throws(() => x86.device({ kind: "pcie-root-port", id: "rp", chassis: 3 }), {
    name: "RangeError",
    message:
      /^Cannot set pcie-root-port chassis to 3 with slot 0: chassis 1 to 32, slot 0 are vmkit's hotplug slots \(\.hotplugSlots\); use chassis 0 or 33 to 255, or another slot$/,
  });
  // Two ports with one chassis and slot; an explicit chassis that an automatic one took.
  const rp = x86.device({ kind: "pcie-root-port", id: "a", chassis: 40 });
  assert.throws(() => rp.device({ kind: "pcie-root-port", id: "b", chassis: 40 }), {
    name: "TypeError",
    message:
      /^Cannot add pcie-root-port device: PCIe chassis 40 slot 0 is used by both pcie-root-port device 0 and/,
  });
  assert.doesNotThrow(() => rp.device({ kind: "pcie-root-port", id: "b", chassis: 40, slot: 1 }));
  const auto = x86.device({ kind: "pci-bridge", id: "a" });
  assert.throws(() => auto.device({ kind: "pci-bridge", id: "b", chassis: 255 }), {
    message:
      /^Cannot add pci-bridge device: PCI bridge chassis 255 is used by both pci-bridge device 0 and/,
  });
  // Ids are shared with every other id of the VM.
  assert.throws(() => auto.device({ kind: "pcie-root-port", id: "a" }), {
    message: /^Cannot add pcie-root-port device: id "a" .*pci-bridge device 0/,
  });
  assert.throws(() => x86.device({ kind: "pcie-root-port" } as never), {
    message: /^Cannot use pcie-root-port id undefined: start with a letter/,
  });
  assert.throws(() => x86.device({ kind: "pci-bridge", id: "b", chassis: 0 }), {
    name: "RangeError",
    message: /^Cannot set pci-bridge chassis to 0: use a whole number from 1 to 255$/,
  });
  assert.throws(() => x86.device({ kind: "pcie-root-port", id: "r", slot: 8192 }), {
    name: "RangeError",
    message: /^Cannot set pcie-root-port slot to 8192: use a whole number from 0 to 8191$/,
  });
  assert.throws(() => x86.device({ kind: "pci-bridge", id: "b", bus: "bad bus" }), {
    message: /^Cannot use pci-bridge bus id "bad bus"/,
  });
  assert.throws(
    () =>
      VmBuilder.fromJSON({
        arch: "x86_64",
        devices: [{ kind: "pcie-root-port", id: "r", chassis: "1" }],
      }),
    { message: /devices\[0\]\.chassis to "1": use a whole number from 0 to 255/ },
  );

  // PCI Express parts need a PCI Express machine; a PCI-PCI bridge needs a PCI bus.
  const pc = x86.machine("pc");
  assert.throws(() => pc.device({ kind: "pcie-root-port", id: "r" }).toArgv(argvOptions), {
    name: "TypeError",
    message:
      /^Cannot add pcie-root-port "r": machine "pc" is not PCI Express \(q35 on x86_64, virt on aarch64 and riscv64\); use machine "q35" \(\.machine\("q35"\)\), or a pci-bridge$/,
  });
  assert.throws(() => pc.device({ kind: "pcie-pci-bridge", id: "p" }).toArgv(argvOptions), {
    message:
      /^Cannot add pcie-pci-bridge "p": machine "pc" is not PCI Express .*use a pci-bridge on its bus$/,
  });
  assert.throws(
    () => x86.machine("microvm").device({ kind: "pci-bridge", id: "b" }).toArgv(argvOptions),
    { message: /^Cannot add pci-bridge "b": machine "microvm" has no PCI bus$/ },
  );
  assert.throws(
    () => vm({ arch: "ppc64le" }).device({ kind: "pcie-root-port", id: "r" }).toArgv(argvOptions),
    { message: /machine "pseries" is not PCI Express/ },
  );
});

Deno.test("a q35 guest finds two root ports, a PCIe-to-PCI bridge and PCI-PCI bridges behind it", async () => {
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" })
    .memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .device({ kind: "pcie-root-port", id: "rp1" })
    .device({ kind: "pcie-root-port", id: "rp2", chassis: 100, slot: 4 })
    .device({ kind: "pcie-pci-bridge", id: "pb" })
    .device({ kind: "pci-bridge", id: "b1", bus: "pb" })
    .device({ kind: "pci-bridge", id: "b2" })
    .launch({ timeout: 60_000, check: true });
  // The guest kernel numbers the buses behind the bridges, so query-pci can walk them.
  const bridges = await machine.console.exec(
    "grep -l 0x0604 /sys/bus/pci/devices/*/class | wc -l",
  );
  assert.equal(bridges.output, "6");

  const [root] = await machine.qmp.execute("query-pci") as unknown as { devices: PciNode[] }[];
  const parents = pciParents(root.devices);
  assert.equal(parents.get("rp1"), "");
  assert.equal(parents.get("rp2"), "");
  assert.equal(parents.get("pb"), "");
  assert.equal(parents.get("b1"), "pb");
  assert.equal(parents.get("b2"), "vmkit-pcie-pci-bridge");
  assert.equal(parents.get("vmkit-pcie-pci-bridge"), "");
  const qom = (path: string, property: string) =>
    machine.qmp.execute("qom-get", { path: `/machine/peripheral/${path}`, property });
  assert.deepEqual(
    [await qom("rp1", "chassis"), await qom("rp2", "chassis"), await qom("rp2", "slot")],
    [33, 100, 4],
  );
  assert.deepEqual([await qom("b1", "chassis_nr"), await qom("b2", "chassis_nr")], [255, 254]);
});

Deno.test("PCI-PCI bridges start where each machine can have them: virt, pc, pseries", async () => {
  const machines = [
    vm({ arch: "aarch64" }),
    vm({ arch: "riscv64" }),
    vm({ arch: "x86_64" }).profile("classic"),
    vm({ arch: "ppc64le" }),
  ];
  for (const builder of machines) {
    await using machine = await builder
      .paused()
      .device({ kind: "pci-bridge", id: "b1" })
      .device({ kind: "pci-bridge", id: "b2" })
      .launch({ timeout: 60_000, check: true });
    const peripherals = await machine.qmp.execute("qom-list", { path: "/machine/peripheral" });
    const names = peripherals.map((p) => p.name).filter((n) => n !== "type").sort();
    const what = `${builder.arch} ${builder.machineType}`;
    assert.deepEqual(
      names,
      builder.machineType.startsWith("virt") ? ["b1", "b2", "vmkit-pcie-pci-bridge"] : ["b1", "b2"],
      what,
    );
  }
});

Deno.test("an Intel IOMMU gives the x86_64 guest DMA remapping: DMAR, dmar0 and IOMMU groups", async () => {
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" })
    .memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .device({ kind: "rng" })
    .device({ kind: "iommu", model: "intel" })
    .launch({ timeout: 60_000, check: true });
  // The IOMMU comes first on the command line, before the devices it translates for.
  assert.deepEqual(deviceDrivers(machine.argv).slice(0, 2), ["intel-iommu", "virtio-rng-pci"]);
  assert.equal((await machine.console.exec("ls /sys/class/iommu")).output, "dmar0");
  const dmesg = await machine.console.exec("dmesg | grep -c 'ACPI: DMAR'");
  assert.equal(dmesg.output, "1");
  // The rng device sits in an IOMMU group: DMA goes through the IOMMU.
  const rng = await machine.console.exec(
    "d=$(readlink -f /sys/bus/virtio/devices/virtio0/..); basename $d; ls $d/iommu_group/devices",
  );
  const [address, ...group] = rng.output.split("\n");
  assert.match(address, /^0000:00:0\d\.0$/);
  assert.deepEqual(group, [address]);
});

Deno.test("a virtio IOMMU starts on q35 and on aarch64's virt machine", async () => {
  const g = await tinyGuest("x86_64");
  await using q35 = await vm({ arch: "x86_64" })
    .memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .device({ kind: "iommu", model: "virtio" })
    .launch({ timeout: 60_000, check: true });
  // The Debian cloud kernel has no virtio-iommu driver; the guest sees the device (1af4:1057).
  const seen = await q35.console.exec("cat /sys/bus/pci/devices/*/device | grep -c 0x1057");
  assert.equal(seen.output, "1");

  await using virt = await vm({ arch: "aarch64" })
    .paused()
    .device({ kind: "iommu", model: "virtio" })
    .launch({ timeout: 60_000, check: true });
  const [root] = await virt.qmp.execute("query-pci") as unknown as { devices: PciNode[] }[];
  const ids = root.devices.map((d) => (d as unknown as { id: { device: number } }).id.device);
  assert.ok(ids.includes(0x1057), `no virtio-iommu in ${JSON.stringify(ids)}`);
});

Deno.test("an IOMMU is refused where QEMU cannot have it, and a VM has one", () => {
  assert.throws(() => vm({ arch: "aarch64" }).device({ kind: "iommu", model: "intel" }), {
    name: "TypeError",
    message:
      /^Cannot add iommu model "intel" on aarch64: Intel VT-d is x86_64's; use model "virtio"$/,
  });
  assert.throws(() => vm({ arch: "riscv64" }).device({ kind: "iommu", model: "virtio" }), {
    message:
      /^Cannot add iommu model "virtio" on riscv64: QEMU 7\.2 plugs virtio-iommu only into x86_64's q35 and aarch64's virt machines$/,
  });
  assert.throws(() => vm({ arch: "x86_64" }).device({ kind: "iommu", model: "amd" } as never), {
    message: /^Cannot set iommu model to "amd": use "intel", "virtio"$/,
  });
  assert.throws(
    () =>
      vm({ arch: "x86_64" }).profile("classic").device({ kind: "iommu", model: "intel" })
        .toArgv(argvOptions),
    {
      message: /^Cannot add iommu model "intel" on machine "pc": intel-iommu needs machine "q35"$/,
    },
  );
  // Adding a second one replaces the first: QEMU takes one vIOMMU.
  const builder = vm({ arch: "x86_64" })
    .device({ kind: "iommu", model: "intel" })
    .device({ kind: "iommu", model: "virtio" });
  assert.deepEqual(builder.devices, [{ kind: "iommu", model: "virtio" }]);
  assert.deepEqual(deviceDrivers(builder.toArgv(argvOptions)), ["virtio-iommu-pci"]);
});
