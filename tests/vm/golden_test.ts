// The argv of representative builders, compared byte for byte with tests/vm/golden/argv.json.
// A change to it must be deliberate: regenerate with
//   VMKIT_UPDATE_GOLDEN=1 deno test --allow-read --allow-write --allow-env tests/vm/golden_test.ts
// and say in the commit why the command line changed.
import assert from "node:assert/strict";
import { vm, type VmBuilder } from "../../mod.ts";

const GOLDEN = new URL("./golden/argv.json", import.meta.url);
const K = { initrd: "/g/initrd.img", append: "init=/init" };

/** The builders the golden file holds, by name. */
export function goldenBuilders(): Record<string, VmBuilder> {
  const x86 = vm({ arch: "x86_64" }).memory("256M").kernel("/g/vmlinux", K);
  return {
    "x86_64 fast kernel": x86,
    "x86_64 classic kernel": x86.profile("classic"),
    "x86_64 kvm": x86.accel("kvm").cpu("host,+invtsc"),
    "x86_64 auto": vm({ arch: "x86_64" }),
    "aarch64 fast kernel": vm({ arch: "aarch64" }).memory("512M").smp(2).kernel("/g/Image", K),
    "riscv64": vm({ arch: "riscv64" }).kernel("/g/Image"),
    "s390x": vm({ arch: "s390x" }).kernel("/g/image").drive("/d/a.img", { format: "raw" }),
    "ppc64le classic": vm({ arch: "ppc64le" }).profile("classic").network({ type: "user" }),
    "x86_64 drives": x86
      .drive("/d/a.qcow2", { format: "qcow2" })
      .drive("/d/b,c.img", {
        format: "raw",
        readOnly: true,
        cache: "none",
        aio: "native",
        serial: "SN,1",
        iothread: true,
        id: "data",
      })
      .drive("/d/s.img", { format: "raw", snapshot: true, cache: "writethrough" })
      .drive("/d/scsi.img", { format: "raw", interface: "scsi", cache: "directsync" })
      .drive("/d/scsi2.img", { format: "qcow2", interface: "scsi" }),
    "x86_64 networks": x86
      .network({
        type: "user",
        forwards: [{ hostPort: 2222, guestPort: 22 }, {
          protocol: "udp",
          hostAddress: "0.0.0.0",
          hostPort: 5353,
          guestPort: 53,
        }],
        mac: "52:54:00:12:34:56",
      })
      .network({ type: "tap", ifname: "tap0" }),
    "x86_64 network none classic": x86.profile("classic").network("none"),
    "x86_64 devices": x86
      .rng().balloon().pvpanic().vga()
      .fwCfg("opt/vmkit/a", { string: "x,y" }).fwCfg("opt/vmkit/b", { file: "/f/b" })
      .chardev("log", { backend: "file", path: "/l/serial,1.log" })
      .chardev("sock", { backend: "socket", path: "/l/s.sock" })
      .chardev("p", { backend: "pty" }).chardev("n", { backend: "null" })
      .chardev("pipe", { backend: "pipe", path: "/l/pipe" })
      .serial("log").serial("p")
      .qmpSocket("/q/one.sock").qmpSocket("/q/two.sock")
      .name("guest,1")
      .arg("-device", "virtio-gpu-pci"),
    "x86_64 machine": x86
      .machine("q35", { "dump-guest-core": "off" })
      .smp({ cpus: 2, sockets: 1, cores: 2, threads: 2, maxcpus: 4 })
      .memory("1G", { slots: 2, max: "4G" })
      .hotplugSlots(3)
      .incoming().paused().noReboot(false).nodefaults(false).noUserConfig(false),
    "x86_64 microvm": x86.machine("microvm").drive("/d/a.img", { format: "raw" }),
    "aarch64 hotplug": vm({ arch: "aarch64" }).kernel("/g/Image").hotplugSlots(2).pvpanic().vga(),
    "x86_64 pc hotplug": x86.machine("pc").hotplugSlots(2),
  };
}

function goldenArgv(): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(goldenBuilders()).map((
      [name, builder],
    ) => [name, builder.toArgv({ runtimeDir: "/run/vmkit-golden", accel: "tcg" })]),
  );
}

Deno.test("the argv of every golden builder is byte-identical to tests/vm/golden/argv.json", async () => {
  const actual = goldenArgv();
  if (Deno.env.get("VMKIT_UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(GOLDEN, JSON.stringify(actual, null, 2) + "\n");
  }
  const expected = JSON.parse(await Deno.readTextFile(GOLDEN));
  for (const name of Object.keys({ ...expected, ...actual })) {
    assert.deepEqual(actual[name], expected[name], `golden builder "${name}"`);
  }
});
