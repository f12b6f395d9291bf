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

Deno.test("the tiny guest brings up its network card by DHCP, so a host forward works at once", async () => {
  const port = (() => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return (listener.addr as Deno.NetAddr).port;
  })();
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .network({ type: "user", forwards: [{ hostPort: port, guestPort: 8080 }] })
    .launch({ timeout: 60_000 });
  const setup = await machine.console.exec(
    "ip -4 -o addr show; ip route; cat /etc/resolv.conf",
    { timeout: 60_000 },
  );
  assert.match(setup.output, /\blo\s+inet 127\.0\.0\.1\/8/);
  assert.match(setup.output, /\beth0\s+inet 10\.0\.2\.15\/24/);
  assert.match(setup.output, /^default via 10\.0\.2\.2 dev eth0/m);
  assert.match(setup.output, /^nameserver 10\.0\.2\.3$/m);
  await machine.console.exec("mkdir /tmp/www; echo served > /tmp/www/index.html");
  await machine.console.exec("httpd -p 8080 -h /tmp/www");
  const response = await fetch(`http://127.0.0.1:${port}/index.html`);
  assert.equal(await response.text(), "served\n");
});
