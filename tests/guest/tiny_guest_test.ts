import assert from "node:assert/strict";
import { tinyGuest, vm } from "../../mod.ts";
import { qcow2, scratchDir } from "../vm/_disks.ts";

const loaded = async (machine: { console: { exec(c: string): Promise<{ output: string }> } }) =>
  (await machine.console.exec("cut -d' ' -f1 /proc/modules | sort")).output.split("\n");

Deno.test("the tiny guest loads the drivers of the devices it has, and modprobe works in it", async () => {
  const guest = await tinyGuest("x86_64");
  const base = vm({ arch: "x86_64" }).memory("256M").kernel(guest.kernel, { initrd: guest.initrd });
  {
    // No virtio device: only the power button's drivers.
    await using machine = await base.launch({ timeout: 60_000 });
    assert.deepEqual(await loaded(machine), ["button", "evdev"]);
  }
  await using dir = await scratchDir();
  await using machine = await base
    .drive(await qcow2(dir.path, "a.img", "8M", "raw"), { format: "raw" })
    .drive(await qcow2(dir.path, "b.img", "8M", "raw"), { format: "raw", interface: "scsi" })
    .rng()
    .launch({ timeout: 60_000 });
  const modules = await loaded(machine);
  for (const name of ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_rng"]) {
    assert.ok(modules.includes(name), `${name} is loaded: ${modules.join(" ")}`);
  }
  for (const name of ["virtio_net", "virtio_balloon", "virtio_console"]) {
    assert.ok(!modules.includes(name), `${name} is not loaded`);
  }
  // The disks are there by the time the prompt is.
  assert.equal(
    (await machine.console.exec("ls /sys/block")).output.split(/\s+/).sort().join(" "),
    "sda vda",
  );
  assert.equal((await machine.console.exec("modprobe virtio_net && echo ok")).output, "ok");
  assert.ok((await loaded(machine)).includes("virtio_net"));
});
