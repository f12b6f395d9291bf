import assert from "node:assert/strict";
import { tinyGuest, vm } from "../../mod.ts";
import { qcow2, scratchDir } from "./_disks.ts";

Deno.test("loading a snapshot brings back what the guest had when it was saved", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const state = await qcow2(dir.path, "state.qcow2", "128M");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .drive(state, { format: "qcow2" })
    .launch({ timeout: 60_000 });
  await machine.console.exec("echo original > /tmp/file");
  const saved = await machine.saveSnapshot("before");
  assert.equal(saved.tag, "before");
  assert.ok(saved.vmStateSize > 1 << 20, `${saved.vmStateSize} bytes of VM state`);
  assert.deepEqual((await machine.snapshots()).map((s) => s.tag), ["before"]);
  await assert.rejects(machine.saveSnapshot("before"), /a snapshot of that name exists/);

  await machine.console.exec("echo changed > /tmp/file");
  await machine.loadSnapshot("before");
  assert.equal(await machine.status(), "running");
  assert.equal((await machine.console.exec("cat /tmp/file")).output, "original");

  await assert.rejects(machine.loadSnapshot("never-saved"), {
    name: "RangeError",
    message: `Cannot load snapshot "never-saved": there is no snapshot of that name`,
  });
  await machine.deleteSnapshot("before");
  assert.deepEqual(await machine.snapshots(), []);
  await assert.rejects(machine.deleteSnapshot("before"), /there is no snapshot of that name/);
  assert.equal((await machine.console.exec("cat /tmp/file")).output, "original");
});

Deno.test("a snapshot needs qcow2 disks, and says so with the VM still running", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const raw = await qcow2(dir.path, "disk.img", "16M", "raw");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .drive(raw)
    .launch({ timeout: 60_000 });
  await machine.console.exec("true");
  await assert.rejects(machine.saveSnapshot("s"), {
    name: "TypeError",
    message:
      `Cannot save snapshot "s": disk "drive0" (raw) cannot hold snapshots; only qcow2 can (convert with qemu-img convert -O qcow2, or attach it read-only)`,
  });
  await assert.rejects(machine.saveSnapshot(""), /the tag is empty/);
  assert.equal(await machine.status(), "running");
  assert.equal((await machine.console.exec("echo alive")).output, "alive");
});

Deno.test("guest memory dumps as ELF, and screendump needs a display adapter", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  await using machine = await vm({ arch: "x86_64" }).memory("128M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .launch({ timeout: 60_000 });
  await machine.console.exec("true");
  const bytes = await machine.dumpGuestMemory(`${dir.path}/memory.elf`);
  assert.ok(bytes >= 128 * 2 ** 20, `${bytes} bytes`);
  const head = (await Deno.readFile(`${dir.path}/memory.elf`)).subarray(0, 4);
  assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46]);
  await assert.rejects(machine.dumpGuestMemory(`${dir.path}/no/such/dir/m.elf`), {
    name: "NotFound",
    message: /directory ".*\/no\/such\/dir" does not exist/,
  });
  await assert.rejects(machine.screendump(`${dir.path}/screen.png`), {
    name: "TypeError",
    message: /the VM has no display adapter; build it with \.vga\(\)/,
  });

  await using shown = await vm({ arch: "x86_64" }).memory("128M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .vga()
    .launch({ timeout: 60_000 });
  await shown.console.exec("true");
  await shown.screendump(`${dir.path}/screen.png`);
  const png = (await Deno.readFile(`${dir.path}/screen.png`)).subarray(0, 8);
  assert.deepEqual([...png], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});
