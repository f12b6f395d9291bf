import assert from "node:assert/strict";
import { tinyGuest, vm } from "../../../mod.ts";
import { deviceDrivers } from "../_argv.ts";

Deno.test("a display adapter is VGA on x86_64 and virtio-gpu elsewhere, refused where there is none", () => {
  assert.deepEqual(deviceDrivers(vm({ arch: "x86_64" }).display().toArgv()), ["VGA"]);
  assert.deepEqual(
    deviceDrivers(vm({ arch: "x86_64" }).display({ adapter: "virtio" }).toArgv()),
    ["virtio-gpu-pci"],
  );
  assert.deepEqual(deviceDrivers(vm({ arch: "aarch64" }).vga().toArgv()), ["virtio-gpu-pci"]);
  assert.throws(
    () => vm({ arch: "aarch64" }).display({ adapter: "std" }),
    /display adapter "std" on aarch64: the standard VGA is x86_64's; use "virtio"/,
  );
  assert.throws(() => vm({ arch: "s390x" }).display(), /QEMU has none for s390x/);
  // One display: a second replaces the first.
  const twice = vm({ arch: "x86_64" }).vga().display({ adapter: "virtio", vnc: true });
  assert.deepEqual(deviceDrivers(twice.toArgv()), ["virtio-gpu-pci"]);
  assert.deepEqual(twice.devices, [{ kind: "display", adapter: "virtio", vnc: true }]);
  assert.deepEqual(deviceDrivers(twice.vga(false).toArgv()), []);
});

Deno.test("a VNC display serves the screen on vnc.sock in the runtime directory", async () => {
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M").display({ vnc: true })
    .kernel(g.kernel, { initrd: g.initrd }).launch({ timeout: 60_000 });
  const path = `${machine.runtimeDir}/vnc.sock`;
  assert.ok((await Deno.lstat(path)).isSocket);
  using conn = await Deno.connect({ transport: "unix", path });
  const banner = new Uint8Array(12);
  let read = 0;
  while (read < banner.length) {
    const n = await conn.read(banner.subarray(read));
    if (n === null) break;
    read += n;
  }
  assert.equal(new TextDecoder().decode(banner), "RFB 003.008\n");
  const vnc = await machine.qmp.execute("query-vnc");
  assert.equal(vnc.enabled, true);
});
