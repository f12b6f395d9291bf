import assert from "node:assert/strict";
import { needsOf, probeQemu, vm, VmCheckError } from "../../mod.ts";

Deno.test("builder.check passes every architecture's default VM on the installed QEMU", async () => {
  for (const arch of ["x86_64", "aarch64", "riscv64", "s390x", "ppc64le"] as const) {
    const report = await vm({ arch }).rng().balloon().check();
    assert.equal(report.version.major, 7, arch);
    assert.ok(report.machine !== "", arch);
    assert.ok(report.devices.some((d) => d.startsWith("virtio-rng")), arch);
  }
  const q35 = await vm({ arch: "x86_64" }).hotplugSlots(1).check();
  assert.match(q35.machine, /^pc-q35-/);
  assert.ok(q35.devices.includes("pcie-root-port"));
});

Deno.test("builder.check lists everything missing, with names QEMU does have", async () => {
  const builder = vm({ arch: "x86_64" }).machine("q36").cpu("qemu65")
    .arg("-device", "virtio-blk-pcie", "-object", "iothred,id=io0");
  const error = await builder.check().catch((e) => e);
  assert.ok(error instanceof VmCheckError, String(error));
  assert.deepEqual(error.missing.map((m) => [m.kind, m.name, m.similar[0]]), [
    ["machine", "q36", "q35"],
    ["device", "virtio-blk-pcie", "virtio-blk-pci"],
    ["object", "iothred", "iothread"],
    ["cpu", "qemu65", "qemu64"],
  ]);
  assert.match(error.message, /^Cannot launch VM with qemu-system-x86_64: it lacks machine "q36"/);
  assert.match(error.message, /"qemu-system-x86_64 -device help"/);
  // launch({ check: true }) stops there: the error is the check's, not QEMU's.
  const launched = await builder.launch({ check: true }).catch((e) => e);
  assert.ok(launched instanceof VmCheckError, String(launched));
});

Deno.test("needsOf reads machine, devices, objects, CPU and accelerators from an argv", () => {
  assert.deepEqual(
    needsOf([
      "-machine",
      "q35,accel=tcg",
      "-device",
      "virtio-net-pci,netdev=n",
      "-device",
      "driver=VGA,id=v",
      "-device",
      "virtio-net-pci,netdev=m",
      "-object",
      "qom-type=iothread,id=io",
      "-cpu",
      "max,pmu=off",
      "-accel",
      "kvm",
    ]),
    {
      machine: "q35",
      devices: ["virtio-net-pci", "VGA"],
      objects: ["iothread"],
      cpu: "max",
      accels: ["kvm"],
    },
  );
});

Deno.test("probeQemu names the Debian package of a missing binary", async () => {
  await assert.rejects(probeQemu("qemu-system-vmkit-none"), {
    name: "NotFound",
    message: /QEMU binary "qemu-system-vmkit-none" is not installed; install it with: apt-get/,
  });
});
