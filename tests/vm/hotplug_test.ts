import assert from "node:assert/strict";
import { QmpError, QmpTimeoutError, tinyGuest, type Vm, vm } from "../../mod.ts";
import { deviceDrivers, jsonOptions } from "./_argv.ts";
import { qcow2, scratchDir } from "./_disks.ts";

async function until(vmm: Vm, command: string, ok: (output: string) => boolean): Promise<string> {
  let output = "";
  for (let i = 0; i < 100; i++) {
    output = (await vmm.console.exec(command)).output;
    if (ok(output)) return output;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`the guest never showed what was expected from "${command}"; last: ${output}`);
}

Deno.test("a running guest sees hot-added disks, NICs, a CPU and a DIMM come and go", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const disk = await qcow2(dir.path, "hot.qcow2", "64M");
  await using machine = await vm({ arch: "x86_64" })
    .memory("256M", { slots: 2, max: "1G" })
    .smp({ cpus: 1, maxcpus: 2 })
    .kernel(guest.kernel, { initrd: guest.initrd, append: "memhp_default_state=online" })
    .hotplugSlots(2)
    .balloon()
    .launch({ timeout: 60_000, check: true });
  assert.equal((await machine.console.exec("ls /sys/block")).output, "");

  // Disk: appears as vda with its serial, then goes.
  const added = await machine.addDisk(disk, { serial: "vmkit-hot" });
  assert.deepEqual(added, { id: "disk0", file: disk, format: "qcow2", port: "vmkit-hp0" });
  await until(machine, "ls /sys/block", (out) => out === "vda");
  assert.equal((await machine.console.exec("cat /sys/block/vda/serial")).output, "vmkit-hot");
  await machine.removeDisk("disk0");
  await until(machine, "ls /sys/block", (out) => out === "");
  const nodes = await machine.qmp.execute("query-named-block-nodes");
  assert.ok(!nodes.some((node) => node["node-name"] === "disk0"), "blockdev-del ran");

  // NIC: eth0 with the MAC asked for, then gone.
  const nic = await machine.addNic({ mac: "52:54:00:12:34:56" });
  assert.equal(nic.id, "nic0");
  await until(machine, "cat /sys/class/net/eth0/address 2>&1", (out) => out === nic.mac);
  await machine.removeNic(nic.id);
  await until(machine, "ls /sys/class/net", (out) => out === "lo");

  // Slots: two root ports; a third device has nowhere to go and leaves nothing behind.
  // Two at once get two ids and two slots.
  const [a, b] = await Promise.all([
    machine.addDisk(disk, { readOnly: true }),
    machine.addDisk(disk, { readOnly: true }),
  ]);
  assert.deepEqual([a.id, a.port, b.id, b.port], ["disk0", "vmkit-hp0", "disk1", "vmkit-hp1"]);
  await assert.rejects(machine.addDisk(disk, { id: "c", readOnly: true }), {
    name: "RangeError",
    message: /all 2 hotplug slots are in use; build the VM with more \.hotplugSlots\(n\)/,
  });
  assert.ok(
    !(await machine.qmp.execute("query-named-block-nodes")).some((n) => n["node-name"] === "c"),
  );
  await Promise.all([machine.removeDisk(a.id), machine.removeDisk(b.id)]);
  await until(machine, "ls /sys/block", (out) => out === "");

  // CPU: the free slot of maxcpus 2 is core 1; the guest can online it.
  const cpu = await machine.addCpu();
  assert.equal(cpu.props["core-id"], 1);
  await until(machine, "ls -d /sys/devices/system/cpu/cpu1", (out) => out.endsWith("cpu1"));
  await machine.console.exec("echo 1 > /sys/devices/system/cpu/cpu1/online");
  assert.equal((await machine.console.exec("cat /sys/devices/system/cpu/online")).output, "0-1");
  await assert.rejects(machine.addCpu(), /all 2 possible CPUs are present/);

  // Memory: a 128 MiB DIMM grows MemTotal by about 128 MiB.
  const memTotal = async () =>
    Number(/MemTotal:\s+(\d+)/.exec((await machine.console.exec("cat /proc/meminfo")).output)![1]);
  const before = await memTotal();
  const dimm = await machine.addMemory("128M");
  assert.deepEqual(dimm, { id: "dimm0", memdev: "dimm0-mem", size: 128 * 2 ** 20 });
  const grown = await until(
    machine,
    "cat /proc/meminfo",
    (out) => Number(/MemTotal:\s+(\d+)/.exec(out)![1]) - before > 120 * 1024,
  );
  assert.ok(grown.includes("MemTotal"));

  // Balloon and run state.
  await machine.setBalloon("200M");
  for (let i = 0; i < 100 && await machine.balloonSize() !== 200 * 2 ** 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(await machine.balloonSize(), 200 * 2 ** 20);
  await machine.pause();
  assert.equal(await machine.status(), "paused");
  await machine.resume();
  assert.equal(await machine.status(), "running");
  assert.equal((await machine.console.exec("echo alive")).output, "alive");
});

Deno.test("bad hotplug requests fail clearly and leave the VM running", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const disk = await qcow2(dir.path, "d.qcow2", "16M");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .launch({ timeout: 60_000 });
  await assert.rejects(machine.addDisk(disk), {
    name: "RangeError",
    message: /the VM has no hotplug slots; build it with \.hotplugSlots\(n\)/,
  });
  await assert.rejects(machine.addDisk(`${dir.path}/missing.qcow2`), {
    name: "NotFound",
    message: `Cannot add disk: image "${dir.path}/missing.qcow2" does not exist`,
  });
  const missing = await machine.removeDisk("no-such-disk").catch((e) => e);
  assert.ok(missing instanceof QmpError, String(missing));
  assert.equal(missing.errorClass, "DeviceNotFound");
  await assert.rejects(
    machine.addMemory("128M"),
    /no DIMM slots; build it with \.memory\(size, \{ slots, max \}\)/,
  );
  await assert.rejects(machine.addCpu(), /all 1 possible CPUs are present/);
  await assert.rejects(machine.setBalloon("100M"), {
    name: "TypeError",
    message: /no balloon device; build it with \.balloon\(\)/,
  });
  await assert.rejects(machine.addNic({ mac: "nope" }), /use xx:xx:xx:xx:xx:xx/);
  await assert.rejects(machine.addDisk(disk, { id: "vmkit-x" }), /"vmkit-" is reserved/);
  const unknown = await machine.qmp.execute("x-no-such-command").catch((e) => e);
  assert.ok(unknown instanceof QmpError && unknown.errorClass === "CommandNotFound");
  // @ts-expect-error: value is a number of bytes
  const wrong = await machine.qmp.execute("balloon", { value: "big" }).catch((e) => e);
  assert.ok(wrong instanceof QmpError && wrong.errorClass === "GenericError", String(wrong));
  assert.match(wrong.desc, /'value'/);
  assert.equal(await machine.status(), "running");
  assert.equal((await machine.console.exec("echo alive")).output, "alive");
});

Deno.test("removing a device from a paused guest times out with a reason", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const disk = await qcow2(dir.path, "p.qcow2", "16M");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .hotplugSlots(1)
    .launch({ timeout: 60_000 });
  await machine.console.exec("true");
  await machine.addDisk(disk, { id: "p" });
  await until(machine, "ls /sys/block", (out) => out === "vda");
  await machine.pause();
  const error = await machine.removeDisk("p", { timeout: 500 }).catch((e) => e);
  assert.ok(error instanceof QmpTimeoutError, String(error));
  assert.match(error.message, /the guest did not let go of it/);
  await machine.resume();
  await until(machine, "ls /sys/block", (out) => out === "");
  // The removal finishes once the guest lets go: the node goes and the slot is free again.
  for (let i = 0; i < 100; i++) {
    const nodes = await machine.qmp.execute("query-named-block-nodes");
    if (!nodes.some((node) => node["node-name"] === "p")) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(
    !(await machine.qmp.execute("query-named-block-nodes")).some((n) => n["node-name"] === "p"),
  );
  assert.equal((await machine.addDisk(disk, { id: "again" })).port, "vmkit-hp0");
});

Deno.test("microvm cannot hotplug, and says so at build time", () => {
  assert.throws(() => vm({ arch: "x86_64" }).machine("microvm").hotplugSlots(1), {
    name: "RangeError",
    message: `Cannot add hotplug slots: machine "microvm" cannot hotplug devices`,
  });
  assert.deepEqual(vm({ arch: "x86_64" }).profile("classic").hotplug, { kind: "bus" });
  const argv = vm({ arch: "x86_64" }).hotplugSlots(2).toArgv();
  assert.deepEqual(jsonOptions(argv, "-device"), [
    { driver: "pcie-root-port", id: "vmkit-hp0", chassis: 1 },
    { driver: "pcie-root-port", id: "vmkit-hp1", chassis: 2 },
  ]);
});

Deno.test("memory hotplug, incoming and vga options are written and checked at build time", () => {
  const argv = vm({ arch: "x86_64" }).memory("256M", { slots: 2, max: "1G" }).incoming().vga()
    .toArgv();
  assert.equal(argv[argv.indexOf("-m") + 1], "256M,slots=2,maxmem=1024M");
  assert.equal(argv[argv.indexOf("-incoming") + 1], "defer");
  assert.ok(deviceDrivers(argv).includes("VGA"));
  assert.throws(() => vm({ arch: "x86_64" }).memory("256M", { slots: 2 }), {
    name: "TypeError",
    message: "Cannot set memory hotplug with only slots: give both slots and max",
  });
  assert.throws(() => vm({ arch: "x86_64" }).memory("1G", { slots: 1, max: "512M" }), {
    name: "RangeError",
    message: `Cannot set memory max "512M": it must be more than the memory ("1G")`,
  });
  assert.throws(() => vm({ arch: "x86_64" }).memory("1G", { slots: 300, max: "2G" }), RangeError);
  assert.throws(() => vm({ arch: "x86_64" }).hotplugSlots(33), /use a whole number from 0 to 32/);
  assert.throws(() => vm({ arch: "s390x" }).vga(), /no display adapter for s390x|has none/);
});
