import assert from "node:assert/strict";
import { tinyGuest, vm, VmBuilder } from "../../mod.ts";
import { jsonOptions } from "./_argv.ts";
import { scratchDir } from "./_disks.ts";

const base = vm({ arch: "x86_64" }).accel("tcg");
const value = (argv: string[], option: string) => argv[argv.indexOf(option) + 1];

Deno.test("a shared memfd memory backend is the machine's RAM, and vhost-user devices can see it", () => {
  const b = base.memory("512M", { backend: { type: "memfd", share: true, prealloc: true } });
  const argv = b.toArgv();
  assert.deepEqual(jsonOptions(argv, "-object"), [{
    "qom-type": "memory-backend-memfd",
    id: "vmkit-ram",
    size: 512 * 2 ** 20,
    share: true,
    prealloc: true,
  }]);
  assert.equal(value(argv, "-machine"), "q35,memory-backend=vmkit-ram");
  assert.equal(value(argv, "-m"), "512M");
  assert.equal(b.sharedMemory, true);
  assert.throws(
    () => base.memory("1G", { backend: { type: "file" } }),
    /memory backend "file" without a path/,
  );
  assert.throws(
    () => base.memory("1G", { backend: { type: "ram", hugepages: true } }),
    /Cannot set hugepages on memory backend "ram"/,
  );
  assert.throws(
    () => base.memory("1G", { backend: { type: "tmpfs" as "ram" } }),
    /memory backend type to "tmpfs": use "ram", "memfd", "file"/,
  );
});

Deno.test("NUMA nodes get their own backends, and must add up to the VM's memory and CPUs", () => {
  const b = base.memory("512M").smp(2).numa([{ cpus: [0], memory: "256M" }, {
    cpus: [1],
    memory: "256M",
  }]);
  const argv = b.toArgv();
  assert.deepEqual(argv.filter((_, i) => argv[i - 1] === "-numa"), [
    "node,nodeid=0,cpus=0,memdev=vmkit-numa0",
    "node,nodeid=1,cpus=1,memdev=vmkit-numa1",
  ]);
  assert.equal(jsonOptions(argv, "-object").length, 2);
  assert.throws(() => base.memory("1G").smp(2).numa([{ cpus: [0, 1], memory: "512M" }]).toArgv(), {
    name: "RangeError",
    message:
      "Cannot write the NUMA nodes: their memory adds up to 512 MiB, and the VM has 1024 MiB; make them equal",
  });
  assert.throws(
    () => base.memory("512M").numa([{ cpus: [0, 3], memory: "512M" }]).toArgv(),
    /Cannot put cpu 3 in NUMA node 0: the VM has 1 CPUs/,
  );
  assert.throws(
    () => base.numa([{ cpus: [0], memory: "1M" }, { cpus: [0], memory: "1M" }]),
    /cpu 0 in two NUMA nodes/,
  );
});

Deno.test("rtc, smbios, name, pid file, console log and objects are written escaped", () => {
  const argv = base
    .rtc({ base: "2020-06-01T12:00:00", clock: "vm", driftfix: "slew" })
    .smbios({ type: 1, serial: "ds=nocloud;s=http://10.0.2.2:8000/,x", manufacturer: "vmkit" })
    .smbios({ type: 11, strings: ["a,b", "c"] })
    .name("guest,1", { process: true })
    .pidFile("/run/x/qemu.pid")
    .consoleLog("/run/x/console,1.log")
    .object({ "qom-type": "iothread", id: "io1", "poll-max-ns": 0 })
    .toArgv({ runtimeDir: "/run/x" });
  assert.equal(value(argv, "-rtc"), "base=2020-06-01T12:00:00,clock=vm,driftfix=slew");
  assert.deepEqual(argv.filter((_, i) => argv[i - 1] === "-smbios"), [
    "type=1,manufacturer=vmkit,serial=ds=nocloud;s=http://10.0.2.2:8000/,,x",
    "type=11,value=a,,b,value=c",
  ]);
  assert.equal(value(argv, "-name"), "guest=guest,,1,process=guest,,1");
  assert.equal(value(argv, "-pidfile"), "/run/x/qemu.pid");
  assert.equal(
    value(argv, "-chardev"),
    "socket,id=vmkit-console,path=/run/x/console.sock,logfile=/run/x/console,,1.log,logappend=off",
  );
  assert.deepEqual(jsonOptions(argv, "-object"), [{
    "qom-type": "iothread",
    id: "io1",
    "poll-max-ns": 0,
  }]);
  assert.throws(() => base.rtc({ base: "yesterday" }), /rtc base to "yesterday"/);
  assert.throws(() => base.smbios({ type: 7 } as never), /type 7: use type 0, 1, 2, 3 or 11/);
  assert.throws(() => base.smbios({ type: 1, uuid: "x" }), /not a UUID/);
  assert.throws(
    () => base.object({ "qom-type": "iothread", id: "io1", x: "a\nb" }),
    /newline and NUL/,
  );
  assert.throws(
    () => base.object({ "qom-type": "iothread", id: "d" }).drive("x.img", { id: "d" }),
    /Cannot add drive "x.img": id "d" is used by both drive "x.img" and object "d"/,
  );
});

Deno.test("firmware is -bios, or flash code read-only with a variable store", () => {
  const bios = base.kernel("/k").firmware({ bios: "/fw/bios.bin" });
  assert.equal(value(bios.toArgv(), "-bios"), "/fw/bios.bin");
  assert.equal(bios.bios, "/fw/bios.bin");
  const flash = base.firmware({ code: "/fw/CODE.fd", varsTemplate: "/fw/VARS.fd" });
  const argv = flash.toArgv({ runtimeDir: "/run/x" });
  assert.equal(value(argv, "-machine"), "q35,pflash0=vmkit-fw-code,pflash1=vmkit-fw-vars");
  const nodes = jsonOptions(argv, "-blockdev");
  assert.deepEqual(nodes.map((n) => [n["node-name"], n["read-only"]]), [
    ["vmkit-fw-code", true],
    ["vmkit-fw-vars", false],
  ]);
  assert.equal((nodes[1].file as { filename: string }).filename, "/run/x/efivars.fd");
  assert.throws(() => base.firmware({} as never), /give "uefi", "bios", \{ bios \} or \{ code/);
});

Deno.test("a description survives toJSON, JSON text and fromJSON, giving the same argv", () => {
  const builder = vm({ arch: "x86_64" })
    .memory("512M", { slots: 2, max: "2G", backend: { type: "memfd", share: true } })
    .smp({ cpus: 2, maxcpus: 4 })
    .numa([{ cpus: [0, 2], memory: "256M" }, { cpus: [1, 3], memory: "256M" }])
    .kernel("/k", { initrd: "/i", append: "x=1" })
    .drive("/d/a.qcow2", { format: "qcow2", cache: "none", aio: "native", bootIndex: 1 })
    .drive("/d/b.iso", { format: "raw", media: "cdrom" })
    .network({ type: "user", forwards: [{ hostPort: 2222, guestPort: 22 }], restrict: true })
    .chardev("log", { backend: "file", path: "/l/log" }).serial("log")
    .rng({ maxBytes: 1024 }).balloon({ deflateOnOom: true }).display({ vnc: true }).pvpanic()
    .fwCfg("opt/a", { string: "b" }).qmpSocket("/q/q.sock")
    .rtc({ base: "localtime" }).smbios({ type: 1, serial: "s" }).name("n", { process: true })
    .firmware({ bios: "/b" }).pidFile("/p").consoleLog("/c").memLock()
    .object({ "qom-type": "iothread", id: "io9" })
    .machine("q35", { "dump-guest-core": "off" }).cpu("max,+avx2").accel("tcg")
    .profile("classic").hotplugSlots(2).paused().noReboot(false).arg("-snapshot");
  const json = JSON.parse(JSON.stringify(builder));
  const again = VmBuilder.fromJSON(json);
  assert.deepEqual(again.toJSON(), builder.toJSON());
  const options = { runtimeDir: "/run/x", accel: "tcg" as const };
  assert.deepEqual(again.toArgv(options), builder.toArgv(options));
  assert.equal(json.memory.size, "512M");
  assert.equal(json.devices.length, 4);
});

Deno.test("fromJSON names the path of the bad field and what is allowed", () => {
  const cases: [unknown, RegExp][] = [
    [
      { arch: "x86_64", drives: [{ file: "a" }, { file: "b", cache: "fast" }] },
      /drives\[1\]\.cache/,
    ],
    [
      { arch: "x86_64", drives: [{ file: "a", cahce: "none" }] },
      /drives\[0\]: .*unknown field "cahce"/,
    ],
    [{ arch: "mips" }, /Cannot read VM description: arch: build a VM for arch "mips"/],
    [{ arch: "x86_64", memroy: "1G" }, /unknown field "memroy"/],
    [{ arch: "x86_64", memory: "12Q" }, /memory: set memory to "12Q": unknown unit/],
    [{ arch: "x86_64", memory: { size: "1G", backend: { type: "x" } } }, /memory: .*backend type/],
    [
      {
        arch: "x86_64",
        networks: [{ type: "user", forwards: [{ hostPort: 70000, guestPort: 22 }] }],
      },
      /networks\[0\].*hostPort 70000/,
    ],
    [
      { arch: "x86_64", devices: [{ kind: "gpu" }] },
      /devices\[0\]: set devices\[0\]\.kind to "gpu": use .*"rng"/,
    ],
    [{ arch: "x86_64", devices: [{ kind: "rng", source: 3 }] }, /devices\[0\]/],
    [{ arch: "x86_64", serials: ["nope"] }, /serial port on chardev "nope": no such chardev/],
    [
      { arch: "x86_64", drives: [{ file: "a", id: "x" }, { file: "b", id: "x" }] },
      /id "x" is used by both drive "a" and drive "b"/,
    ],
    [{ arch: "x86_64", hotplugSlots: 40 }, /hotplugSlots to 40: use a whole number from 0 to 32/],
    ["x86_64", /expected an object/],
    [
      { arch: "x86_64", devices: [{ kind: "rng" }, { kind: "balloon" }, { kind: "rng" }] },
      /devices\[2\]: a VM has one rng device, and devices\[0\] is one already/,
    ],
  ];
  for (const [json, message] of cases) {
    assert.throws(() => VmBuilder.fromJSON(json), message, JSON.stringify(json));
  }
});

Deno.test("a guest sees its RTC base, NUMA nodes, SMBIOS serial; QEMU writes its pid, name and console log", async () => {
  await using dir = await scratchDir();
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" })
    .memory("256M", { backend: { type: "memfd", share: true } }).smp(2)
    .numa([{ cpus: [0], memory: "128M" }, { cpus: [1], memory: "128M" }])
    .kernel(g.kernel, { initrd: g.initrd })
    .rtc({ base: "2020-06-01T12:00:00" })
    .smbios({ type: 1, serial: "vmkit-serial,1" })
    .name("vmkit-named-vm", { process: true })
    .pidFile(`${dir.path}/qemu.pid`)
    .consoleLog(`${dir.path}/console.log`)
    .launch({ timeout: 60_000 });
  const run = async (command: string) => (await machine.console.exec(command)).output.trim();
  assert.equal(await run("date -u +%Y-%m"), "2020-06");
  assert.equal(await run("ls -d /sys/devices/system/node/node* | wc -l"), "2");
  assert.equal(await run("cat /sys/class/dmi/id/product_serial"), "vmkit-serial,1");
  assert.equal((await Deno.readTextFile(`${dir.path}/qemu.pid`)).trim(), String(machine.pid));
  assert.equal(
    (await Deno.readTextFile(`/proc/${machine.pid}/comm`)).trim(),
    "vmkit-named-vm".slice(0, 15),
  );
  assert.match(await Deno.readTextFile(`${dir.path}/console.log`), new RegExp(g.readyLine));
});

Deno.test("flash firmware boots with a per-VM copy of its variable store, or the user's own", async () => {
  await using dir = await scratchDir();
  const g = await tinyGuest("x86_64");
  // SeaBIOS runs from flash as well as from -bios; a zeroed 128 KiB store stands in for
  // OVMF_VARS.fd.
  const code = `${dir.path}/CODE.fd`;
  await Deno.copyFile("/usr/share/seabios/bios-256k.bin", code);
  const template = `${dir.path}/VARS.fd`;
  await Deno.writeFile(template, new Uint8Array(128 * 1024).fill(0x5a));
  const builder = vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd });
  {
    await using machine = await builder.firmware({ code, varsTemplate: template })
      .launch({ timeout: 60_000 });
    const copy = await Deno.readFile(`${machine.runtimeDir}/efivars.fd`);
    assert.equal(copy.length, 128 * 1024);
    assert.equal((await machine.console.exec("echo up")).output.trim(), "up");
  }
  const kept = `${dir.path}/my-vars.fd`;
  {
    await using machine = await builder.firmware({ code, vars: kept, varsTemplate: template })
      .launch({ timeout: 60_000 });
    assert.equal((await machine.console.exec("echo up")).output.trim(), "up");
  }
  // The user's store was made from the template and stays after the VM.
  assert.deepEqual(await Deno.readFile(kept), await Deno.readFile(template));
  await assert.rejects(
    builder.firmware({ code: `${dir.path}/missing.fd` }).launch(),
    /Cannot launch VM: firmware code ".*missing.fd" does not exist/,
  );
});

Deno.test("QEMU runs as another user, sandboxed, with its UUID, globals and own log; -no-shutdown still shuts down", async () => {
  await using dir = await scratchDir();
  await Deno.chmod(dir.path, 0o777);
  const g = await tinyGuest("x86_64");
  const uuid = "01234567-89ab-cdef-0123-456789abcdef";
  const builder = vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd })
    .balloon().global("virtio-balloon-pci", "deflate-on-oom", "on")
    .uuid(uuid).sandbox().runAs("nobody").noShutdown().qemuLog(`${dir.path}/qemu.log`);
  const argv = builder.toArgv();
  assert.deepEqual(argv.slice(argv.indexOf("-uuid"), argv.indexOf("-global") + 2), [
    "-uuid",
    uuid,
    "-D",
    `${dir.path}/qemu.log`,
    "-no-shutdown",
    "-sandbox",
    "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny",
    "-runas",
    "nobody",
    "-global",
    "driver=virtio-balloon-pci,property=deflate-on-oom,value=on",
  ]);
  await using machine = await builder.launch({ timeout: 60_000 });
  const status = await Deno.readTextFile(`/proc/${machine.pid}/status`);
  assert.match(status, /^Uid:\s+65534\s/m);
  assert.match(status, /^Seccomp:\s+2$/m);
  assert.equal(
    (await machine.console.exec("cat /sys/class/dmi/id/product_uuid")).output.trim(),
    uuid,
  );
  assert.equal(
    await machine.qmp.execute("qom-get", {
      path: "/machine/peripheral/vmkit-balloon",
      property: "deflate-on-oom",
    }),
    true,
  );
  const result = await machine.shutdown({ timeout: 20_000 });
  assert.equal(result.method, "powerdown");
  assert.ok(result.durationMs < 5000, `shutdown took ${result.durationMs} ms`);
  assert.equal((await Deno.stat(`${dir.path}/qemu.log`)).isFile, true);
  assert.throws(() => builder.runAs("no body"), /run QEMU as user "no body"/);
  assert.throws(() => builder.uuid("x"), /Cannot set uuid "x"/);
  assert.throws(() => builder.global("virtio-pci", "a=b", "c"), /global property/);
});

Deno.test("govmm's IOMMUPlatform knob is two -global defaults: virtio devices behind the IOMMU", async () => {
  await using machine = await vm({ arch: "x86_64" }).accel("tcg").paused()
    .device({ kind: "iommu", model: "virtio" }).rng()
    .global("virtio-device", "iommu_platform", "on")
    .global("virtio-pci", "disable-legacy", "on")
    .launch();
  assert.equal(
    await machine.qmp.execute("qom-get", {
      path: "/machine/peripheral/vmkit-rng/virtio-backend",
      property: "iommu_platform",
    }),
    true,
  );
});

Deno.test("a description's cross-field mistakes are found when it is read, and flags take booleans only", () => {
  const cases: [unknown, RegExp][] = [
    [
      { arch: "x86_64", sandbox: true, noShutdown: true },
      /$^/, // read fine: checked below
    ],
    [
      {
        arch: "x86_64",
        devices: [{ kind: "virtiofs", socket: "/run/v.sock", tag: "fs" }],
      },
      /^TypeError: Cannot read VM description: add virtiofs device .*shared memory/,
    ],
    [
      { arch: "x86_64", memory: "1G", numa: [{ cpus: [0], memory: "512M" }] },
      /^RangeError: Cannot read VM description: .*NUMA nodes: their memory adds up to 512 MiB/,
    ],
    [
      {
        arch: "x86_64",
        devices: [
          { kind: "virtio-serial-port", name: "a", chardev: { backend: "socket", path: "/r/s" } },
          { kind: "virtio-serial-port", name: "b", chardev: { backend: "socket", path: "/r/s" } },
        ],
      },
      /socket "\/r\/s" is used by both virtio-serial-port device 0 and virtio-serial-port device 1/,
    ],
    [
      { arch: "x86_64", pidFile: "/r/x", consoleLog: "/r/x" },
      /file "\/r\/x" is used by both the console log and the pid file/,
    ],
    [{ arch: "x86_64", smp: "2" }, /smp: set smp to "2": use a CPU count/],
    [{ arch: "x86_64", kernel: { append: "x" } }, /kernel path to undefined/],
    [{ arch: "x86_64", drives: { file: "a" } }, /set drives to an object: expected an array/],
    [
      {
        arch: "x86_64",
        networks: [
          { type: "user", forwards: [{ hostPort: 2222, guestPort: 22 }] },
          { type: "user", forwards: [{ hostPort: 2222, guestPort: 23 }] },
        ],
      },
      /^RangeError: Cannot read VM description: add network "net1": host port tcp:127.0.0.1:2222 is also forwarded by network "net0"$/,
    ],
  ];
  for (const [json, message] of cases.slice(1)) {
    assert.throws(() => VmBuilder.fromJSON(json), (error: Error) => {
      assert.match(`${error.name}: ${error.message}`, message, JSON.stringify(json));
      return true;
    });
  }
  const flags = VmBuilder.fromJSON(cases[0][0]).toArgv();
  assert.ok(flags.includes("-sandbox") && flags.includes("-no-shutdown"));
  assert.throws(
    () => base.sandbox("off" as unknown as boolean),
    /\.sandbox\("off"\): pass true or false/,
  );
  assert.throws(
    () => base.smbios({ type: "1" } as never),
    /type "1": use type 0, 1, 2, 3 or 11 \(a number\)/,
  );
  assert.throws(
    () => base.global("virtio-pci.disable-legacy=on", undefined as never, undefined as never),
    /\.global\("virtio-pci", "disable-legacy", "on"\)/,
  );
  assert.throws(
    () => base.qmpSocket("/r/q").chardev("c", { backend: "socket", path: "/r/q" }),
    /socket "\/r\/q" is used by both a QMP socket and chardev "c"/,
  );
  assert.throws(
    () => base.consoleLog("/r/l").qemuLog("/r/l").toArgv(),
    /file "\/r\/l" is used by both/,
  );
});
