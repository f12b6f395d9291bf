import assert from "node:assert/strict";
import { chooseAccel, parseSize, vm } from "../../mod.ts";
import { deviceDrivers, jsonOptions } from "./_argv.ts";

const base = vm({ arch: "x86_64" }).accel("tcg");

Deno.test("vm builders are immutable: each method returns a new builder", () => {
  const small = base.memory("256M");
  const big = small.memory("2G");
  assert.ok(small.toArgv().includes("256M"));
  assert.ok(big.toArgv().includes("2048M"));
  assert.ok(!base.toArgv().includes("-m"));
});

Deno.test("toArgv is deterministic and writes the fast profile", () => {
  const builder = base.memory("256M").kernel("/k", { initrd: "/i", append: "init=/bin/sh" });
  const argv = builder.toArgv({ runtimeDir: "/run/x" });
  assert.deepEqual(argv, builder.toArgv({ runtimeDir: "/run/x" }));
  const text = argv.join(" ");
  assert.match(
    text,
    /-machine q35 -accel tcg -cpu kvm64,\+rdrand -m 256M -nodefaults -no-user-config -no-reboot/,
  );
  assert.match(
    text,
    /-chardev socket,id=vmkit-console,path=\/run\/x\/console.sock -serial chardev:vmkit-console/,
  );
  assert.match(text, /-mon chardev=vmkit-qmp,mode=control/);
  assert.equal(argv[argv.indexOf("-append") + 1].split(" ")[0], "console=ttyS0");
  assert.ok(argv[argv.indexOf("-append") + 1].endsWith("init=/bin/sh"));
  const classic = builder.profile("classic").toArgv({ runtimeDir: "/run/x" });
  assert.ok(classic.includes("pc") && !classic.includes("-nodefaults"));
  assert.equal(classic[classic.indexOf("-append") + 1], "init=/bin/sh");
});

Deno.test("the fast profile adds its TCG-only kernel options under TCG only", () => {
  const builder = vm({ arch: "x86_64" }).kernel("/k");
  const append = (accel: "kvm" | "tcg") => {
    const argv = builder.accel(accel).toArgv();
    return argv[argv.indexOf("-append") + 1].split(" ");
  };
  assert.ok(append("tcg").includes("noapictimer"));
  assert.ok(!append("kvm").includes("noapictimer"));
  // TCG does not speculate, so the kernel's mitigations only cost time there; a CPU does.
  assert.ok(append("tcg").includes("mitigations=off"));
  assert.ok(!append("kvm").includes("mitigations=off"));
  assert.ok(append("kvm").includes("noreplace-smp"));
  // With two CPUs the local APIC timer stays: without it no CPU can go tickless.
  const smp = vm({ arch: "x86_64" }).kernel("/k").smp(2).accel("tcg").toArgv();
  assert.ok(!smp[smp.indexOf("-append") + 1].split(" ").includes("noapictimer"));
});

Deno.test("the fast profile boots a kernel on q35 with qboot, and leaves other cases to QEMU", () => {
  const withKernel = base.kernel("/k");
  const bios = (builder: typeof base) => {
    const argv = builder.toArgv();
    return argv.includes("-bios") ? argv[argv.indexOf("-bios") + 1] : undefined;
  };
  assert.equal(bios(withKernel), "qboot.rom");
  assert.equal(withKernel.bios, "qboot.rom");
  assert.equal(bios(withKernel.machine("q35")), "qboot.rom");
  assert.equal(bios(withKernel.machine("pc")), undefined);
  assert.equal(bios(withKernel.profile("classic")), undefined);
  assert.equal(bios(base.drive("disk.img", { format: "raw" })), undefined);
  assert.equal(bios(vm({ arch: "aarch64" }).kernel("/k")), undefined);
});

Deno.test("every user value in a QEMU option list has its commas doubled", () => {
  const argv = base
    .drive("disk,1.img", {
      format: "qcow2",
      serial: "a,b",
      cache: "none",
      aio: "native",
      iothread: true,
    })
    .fwCfg("opt/vmkit/x", { file: "f,g" })
    .chardev("c1", { backend: "file", path: "/tmp/o,ut" })
    .serial("c1")
    .name("n,m")
    .toArgv({ runtimeDir: "/r,d" });
  const text = argv.join("\n");
  // A drive is -blockdev JSON: no commas to double, and the path is a plain file name.
  assert.deepEqual(JSON.parse(argv[argv.indexOf("-blockdev") + 1]), {
    driver: "qcow2",
    "node-name": "drive0",
    "read-only": false,
    cache: { direct: true, "no-flush": false },
    file: {
      driver: "file",
      filename: "disk,1.img",
      "read-only": false,
      aio: "native",
      cache: { direct: true, "no-flush": false },
    },
  });
  // So are devices: the serial is a JSON string, commas and all.
  assert.deepEqual(jsonOptions(argv, "-device"), [{
    driver: "virtio-blk-pci",
    drive: "drive0",
    id: "drive0",
    iothread: "drive0-io",
    serial: "a,b",
  }]);
  assert.match(text, /name=opt\/vmkit\/x,file=f,,g/);
  assert.match(text, /file,id=c1,path=\/tmp\/o,,ut/);
  assert.match(text, /guest=n,,m/);
  assert.match(text, /path=\/r,,d\/console\.sock/);
});

Deno.test("newline and NUL are rejected in every path and value", () => {
  for (const bad of ["a\nb", "a\0b"]) {
    assert.throws(() => base.kernel(bad), TypeError);
    assert.throws(() => base.kernel("/k", { initrd: bad }), TypeError);
    assert.throws(() => base.kernel("/k", { append: bad }), TypeError);
    assert.throws(() => base.drive(bad), TypeError);
    assert.throws(() => base.fwCfg("opt/x", { string: bad }), TypeError);
    assert.throws(() => base.chardev("c", { backend: "file", path: bad }), TypeError);
    assert.throws(() => base.arg(bad), TypeError);
    assert.throws(() => base.toArgv({ runtimeDir: bad }), TypeError);
  }
});

Deno.test("bad sizes, SMP topologies, arches and options throw naming the value", () => {
  assert.throws(() => base.memory("12Q"), /memory to "12Q": unknown unit "Q"/);
  assert.throws(() => base.memory(0), /more than 0/);
  assert.throws(() => base.memory("1.5K"), /whole number of MiB/);
  assert.throws(() => base.memory("lots"), RangeError);
  assert.equal(parseSize("memory", "1.5G"), 1.5 * 2 ** 30);
  assert.equal(parseSize("memory", 512), 512 * 2 ** 20);
  // Every binary spelling people type: QEMU's, IEC's, and Kubernetes' ("Gi").
  for (const size of ["2G", "2g", "2GB", "2GiB", "2Gi", "2 gi", "2048M", "2048Mi"]) {
    assert.equal(parseSize("memory", size), 2 * 2 ** 30, size);
  }
  assert.throws(() => base.smp(0), /smp cpus to 0/);
  assert.throws(
    () => base.smp({ cpus: 4, sockets: 2, cores: 2, threads: 2 }),
    /= 8, not maxcpus 4/,
  );
  assert.throws(() => base.smp({ cpus: 8, maxcpus: 4 }), /more than maxcpus/);
  assert.throws(() => base.smp({ cpus: 3, cores: 2 }), /do not divide/);
  assert.match(
    base.smp({ cpus: 2, sockets: 1, cores: 2, threads: 2, maxcpus: 4 }).toArgv().join(" "),
    /-smp 2,sockets=1,cores=2,threads=2,maxcpus=4/,
  );
  assert.throws(() => vm({ arch: "mips" as "x86_64" }), /arch "mips": use one of/);
  assert.throws(() => base.accel("hvf" as "kvm"), /accel to "hvf"/);
  assert.throws(() => base.drive("d", { aio: "native" }), /needs cache "none" or "directsync"/);
  assert.throws(
    () => base.drive("d").drive("e", { id: "drive0" }),
    /id "drive0" is used by both drive "d" and drive "e"/,
  );
  assert.throws(() => base.drive("d", { format: "vmdk" as "raw" }), /drive format/);
  // A drive without a format is written only once its format is known.
  assert.throws(
    () => base.drive("x.qcow2").toArgv(),
    /drive "drive0" \("x\.qcow2"\): its format is not known; pass .drive\(file, \{ format/,
  );
  assert.match(
    base.drive("x.qcow2").toArgv({ driveFormats: { drive0: "qcow2" } }).join(" "),
    /"driver":"qcow2"/,
  );
  // A machine type or CPU model that is not a plain name would be read as a property.
  for (const bad of ["dump-guest-core=off", "q35,accel=kvm", "", " q35"]) {
    assert.throws(() => base.machine(bad), /Cannot set machine type to .*: use a name/);
  }
  for (const bad of ["max=1", ",pmu=off", "max,=on", "max,a,b=c=d"]) {
    assert.throws(() => base.cpu(bad), /Cannot set cpu/, bad);
  }
  assert.match(base.cpu("max,pmu=off,+avx2,-sse4a").toArgv().join(" "), /-cpu max,pmu=off,\+avx2/);
  assert.match(base.machine("pc-q35-7.2").toArgv().join(" "), /-machine pc-q35-7\.2/);
  assert.throws(
    () => base.network({ type: "user", forwards: [{ hostPort: 65536, guestPort: 22 }] }),
    /hostPort 65536: use a port from 1 to 65535, or 0 for a free one picked at launch/,
  );
  // Port 0 is a free port each: two of them do not clash.
  base.network({
    type: "user",
    forwards: [{ hostPort: 0, guestPort: 22 }, { hostPort: 0, guestPort: 23 }],
  });
  assert.throws(
    () =>
      base.network({
        type: "user",
        forwards: [{ hostPort: 2222, guestPort: 22 }, { hostPort: 2222, guestPort: 23 }],
      }),
    /twice/,
  );
  assert.throws(() => base.network({ type: "tap", ifname: "tap with space" }), /tap interface/);
  assert.throws(() => base.fwCfg("etc/x", { string: "a" }), /start with "opt\/"/);
  assert.throws(() => base.serial("nope"), /add it with .chardev\(\) first/);
  assert.throws(() => vm({ arch: "s390x" }).pvpanic(), /no pvpanic device for s390x/);
});

Deno.test("devices, networks and knobs are written for the machine's virtio transport", () => {
  const text = (b: typeof base) => b.toArgv().join(" ");
  const all = base.rng().balloon().pvpanic().network({
    type: "user",
    forwards: [{ hostPort: 2222, guestPort: 22 }],
  }).drive("s:1.img", { interface: "scsi", readOnly: true, snapshot: true, format: "raw" })
    .paused();
  assert.deepEqual(jsonOptions(all.toArgv(), "-netdev"), [
    { type: "user", id: "net0", hostfwd: [{ str: "tcp:127.0.0.1:2222-:22" }] },
  ]);
  assert.deepEqual(deviceDrivers(all.toArgv()), [
    "virtio-scsi-pci",
    "scsi-hd",
    "virtio-net-pci",
    "virtio-rng-pci",
    "virtio-balloon-pci",
    "pvpanic",
  ]);
  // A snapshot drive is -drive (QEMU makes the overlay), with the path still a plain file name.
  assert.match(
    text(all),
    /-drive driver=raw,file\.driver=file,file\.filename=s:1\.img,if=none,id=drive0,readonly=on,snapshot=on/,
  );
  assert.deepEqual(jsonOptions(all.toArgv(), "-device")[1], {
    driver: "scsi-hd",
    drive: "drive0",
    id: "drive0",
    bus: "vmkit-scsi.0",
  });
  assert.match(text(all), / -S /);
  assert.ok(deviceDrivers(all.machine("microvm").toArgv()).includes("virtio-net-device"));
  assert.deepEqual(deviceDrivers(vm({ arch: "s390x" }).accel("tcg").rng().toArgv()), [
    "virtio-rng-ccw",
  ]);
  assert.match(text(base.profile("classic").network("none")), /-nic none/);
  assert.deepEqual(jsonOptions(base.network({ type: "tap", ifname: "tap0" }).toArgv(), "-netdev"), [
    { type: "tap", id: "net0", ifname: "tap0", script: "no", downscript: "no" },
  ]);
  assert.deepEqual(base.arg("-snapshot").toArgv().slice(-1), ["-snapshot"]);
  assert.match(text(vm({ arch: "x86_64" })), /-accel kvm -accel tcg -cpu max/);
});

Deno.test("toShell quotes every argument for a POSIX shell", async () => {
  const line = base.kernel("/k k", { append: "a='b' c" }).toShell({ runtimeDir: "/tmp/r" });
  assert.ok(line.startsWith("qemu-system-x86_64 -machine q35"));
  const out = await new Deno.Command("sh", {
    args: ["-c", `set -- ${line.slice(line.indexOf(" "))}; printf '%s\\n' "$@"`],
  }).output();
  assert.deepEqual(
    new TextDecoder().decode(out.stdout).trimEnd().split("\n"),
    base.kernel("/k k", { append: "a='b' c" }).toArgv({ runtimeDir: "/tmp/r" }),
  );
});

Deno.test("chooseAccel uses KVM only when it will work, and says why", () => {
  const flags = new Set(["fpu", "vmx"]);
  assert.equal(
    chooseAccel("x86_64", { machine: "x86_64", kvm: "ok", cpuFlags: flags }).accel,
    "kvm",
  );
  const nested = chooseAccel("x86_64", {
    machine: "x86_64",
    kvm: "ok",
    cpuFlags: new Set(["fpu"]),
  });
  assert.equal(nested.accel, "tcg");
  assert.match(nested.reason, /lacks vmx\/svm/);
  assert.match(
    chooseAccel("x86_64", { machine: "x86_64", kvm: "missing" }).reason,
    /does not exist/,
  );
  assert.match(
    chooseAccel("aarch64", { machine: "x86_64", kvm: "ok" }).reason,
    /differs from the x86_64 host/,
  );
  assert.equal(chooseAccel("aarch64", { machine: "aarch64", kvm: "ok" }).accel, "kvm");
  assert.match(
    chooseAccel("x86_64", { machine: "x86_64", kvm: "ok" }).reason,
    /^KVM was not checked: Deno may not read \/proc\/cpuinfo/,
  );
  // Without read access, whether /dev/kvm exists is unknown: no blame on its permissions.
  const unknown = chooseAccel("x86_64", { machine: "x86_64", kvm: "unknown" }).reason;
  assert.match(unknown, /^KVM was not checked: Deno may not read \/dev\/kvm or \/proc\/cpuinfo/);
  assert.doesNotMatch(unknown, /cannot be opened/);
  assert.equal(
    chooseAccel("x86_64", { machine: "x86_64", kvm: "missing", override: "kvm" }).accel,
    "kvm",
  );
  assert.throws(
    () => chooseAccel("x86_64", { machine: "x86_64", kvm: "ok", override: "fast" }),
    /VMKIT_ACCEL="fast"/,
  );
});

Deno.test("auto picks TCG on this machine, whose /dev/kvm has no vmx/svm behind it", () => {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const choice = vm({ arch: "x86_64" }).resolveAccel();
  if (/\b(vmx|svm)\b/.test(cpuinfo)) assert.equal(choice.accel, "kvm", choice.reason);
  else assert.equal(choice.accel, "tcg", choice.reason);
});
