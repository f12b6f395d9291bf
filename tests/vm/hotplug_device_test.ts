import assert from "node:assert/strict";
import { tinyGuest, vm } from "../../mod.ts";

Deno.test("addDevice hot-adds a device from the same plan as at boot, and removeDevice takes it and its backend away", async () => {
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M").hotplugSlots(1)
    .kernel(g.kernel, { initrd: g.initrd }).launch({ timeout: 60_000 });
  const rng = await machine.addDevice({ kind: "rng", maxBytes: 4096 });
  assert.deepEqual(rng, { id: "vmkit-rng", kind: "rng", port: "vmkit-hp0" });
  // The guest's driver binds to it (the init loads virtio_rng for the new device).
  const available = async () =>
    (await machine.console.exec(
      "for i in 1 2 3 4 5 6 7 8 9 10; do grep -q virtio /sys/class/misc/hw_random/rng_available && break; sleep 0.3; done; cat /sys/class/misc/hw_random/rng_available",
    )).output;
  assert.match(await available(), /virtio_rng/);
  const objects = async () =>
    (await machine.qmp.execute("qom-list", { path: "/objects" })).map((p) => p.name);
  assert.ok((await objects()).includes("vmkit-rng"));
  await assert.rejects(machine.addDevice({ kind: "rng" }), /id "vmkit-rng" is already used/);
  await machine.removeDevice("vmkit-rng");
  assert.ok(!(await objects()).includes("vmkit-rng"));
  // The slot is free again.
  assert.equal((await machine.addDevice({ kind: "balloon" })).port, "vmkit-hp0");
  await assert.rejects(machine.removeDevice("nope"), /not added with addDevice/);
  await assert.rejects(
    machine.addDevice({ kind: "display", vnc: true }),
    /Cannot hot-add display device: a VNC server is started with the VM/,
  );
  await assert.rejects(
    machine.addDevice({ kind: "rng", source: "a\nb" }),
    /newline and NUL are not allowed/,
  );
});

Deno.test("a hot-added device whose controller the VM lacks brings the controller, into a slot of its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const g = await tinyGuest("x86_64");
    await using machine = await vm({ arch: "x86_64" }).memory("256M").hotplugSlots(2)
      .kernel(g.kernel, { initrd: g.initrd }).launch({ timeout: 60_000 });
    const port = await machine.addDevice({
      kind: "virtio-serial-port",
      name: "org.vmkit.hot.0",
      chardev: { backend: "file", path: `${dir}/port.out` },
    });
    // The port sits on the controller's bus; the controller took the first slot.
    assert.equal(port.port, undefined);
    assert.deepEqual(port.controllerPorts, ["vmkit-hp0"]);
    const pci = await machine.qmp.execute("qom-get", {
      path: "/machine/peripheral/vmkit-virtio-serial",
      property: "parent_bus",
    });
    assert.match(String(pci), /vmkit-hp0/);
    const { output } = await machine.console.exec(
      "for i in 1 2 3 4 5 6 7 8 9 10; do d=$(grep -l org.vmkit.hot.0 /sys/class/virtio-ports/*/name 2>/dev/null) && break; sleep 0.3; done; n=$(basename $(dirname $d)); echo hot > /dev/$n; echo $n",
    );
    assert.match(output, /^vport\dp\d$/);
    assert.equal(await Deno.readTextFile(`${dir}/port.out`), "hot\n");
    await machine.removeDevice(port.id);
    // The second slot is still free for a device that needs one.
    assert.equal((await machine.addDevice({ kind: "rng" })).port, "vmkit-hp1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hot-add that fails after its controller went in keeps the controller's slot taken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const g = await tinyGuest("x86_64");
    await using machine = await vm({ arch: "x86_64" }).memory("256M").hotplugSlots(2)
      .kernel(g.kernel, { initrd: g.initrd }).launch({ timeout: 60_000 });
    // Nothing listens on the socket: the controller goes in, the port's chardev fails.
    await assert.rejects(
      machine.addDevice({
        kind: "virtio-serial-port",
        name: "org.vmkit.fail.0",
        chardev: { backend: "socket", path: `${dir}/nobody.sock`, server: false },
      }),
      /nobody\.sock/,
    );
    const ids = (await machine.qmp.execute("qom-list", { path: "/machine/peripheral" }))
      .map((p) => p.name);
    assert.ok(ids.includes("vmkit-virtio-serial"));
    assert.equal((await machine.addDevice({ kind: "rng" })).port, "vmkit-hp1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
