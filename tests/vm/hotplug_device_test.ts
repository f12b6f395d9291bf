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
