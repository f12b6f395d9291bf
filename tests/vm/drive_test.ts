import assert from "node:assert/strict";
import { detectImageFormat, tinyGuest, vm } from "../../mod.ts";
import { qcow2, scratchDir } from "./_disks.ts";

async function tinyVmWith(drives: (b: ReturnType<typeof vm>) => ReturnType<typeof vm>) {
  const guest = await tinyGuest("x86_64");
  return await drives(vm({ arch: "x86_64" }).memory("256M"))
    .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
}

/** The disk sizes the guest sees, in 512-byte sectors, by device name. */
async function sizes(machine: Awaited<ReturnType<typeof tinyVmWith>>): Promise<string> {
  return (await machine.console.exec(
    "cd /sys/block; for d in vd*; do echo $d $(cat $d/size); done",
  ))
    .output;
}

Deno.test("a drive without a format is attached as what its file is: a qcow2 is never raw", async () => {
  await using dir = await scratchDir();
  const image = await qcow2(dir.path, "x.qcow2", "64M");
  await using machine = await tinyVmWith((b) => b.drive(image));
  // The guest sees the 64 MiB disk, not the few hundred KiB of the qcow2 container.
  assert.equal(await sizes(machine), "vda 131072");
  assert.deepEqual(await detectImageFormat(image), { format: "qcow2" });
});

Deno.test("a drive's path is a plain file name: no protocol, no json: redirection", async () => {
  await using dir = await scratchDir();
  await Deno.writeFile(`${dir.path}/other.img`, new Uint8Array(2 * 1024 * 1024));
  const colon = `${dir.path}/x:y.img`;
  const json = `${dir.path}/json:{"file":{"driver":"file","filename":"other.img"}}`;
  await Deno.writeFile(colon, new Uint8Array(1024 * 1024));
  const colon2 = `${dir.path}/nbd:localhost:10809`;
  await Deno.writeFile(colon2, new Uint8Array(512 * 1024));
  await Deno.writeFile(json, new Uint8Array(3 * 1024 * 1024));
  await using machine = await tinyVmWith((b) =>
    b.drive(colon).drive(json, { format: "raw" }).drive(colon2, { snapshot: true, id: "snap" })
  );
  // 1 MiB, 3 MiB and 512 KiB: the files named, not other.img (2 MiB) nor an NBD server.
  assert.equal(await sizes(machine), "vda 2048\nvdb 6144\nvdc 1024");
});

Deno.test("images QEMU would have to guess about are refused before launch", async () => {
  await using dir = await scratchDir();
  const base = await qcow2(dir.path, "base.raw", "1M", "raw");
  const overlay = `${dir.path}/overlay.qcow2`;
  const made = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay],
  }).output();
  assert.ok(made.success);
  assert.deepEqual(await detectImageFormat(overlay), {
    format: "qcow2",
    backing: { file: base, format: "raw" },
  });
  // The same overlay with its backing-format extension turned into an unknown one (which QEMU
  // ignores): QEMU would probe the backing file.
  const bytes = await Deno.readFile(overlay);
  const view = new DataView(bytes.buffer);
  let found = false;
  for (let offset = 72; offset < 4096; offset += 4) {
    if (view.getUint32(offset) === 0xe2792aca) {
      view.setUint32(offset, 0x12345678);
      found = true;
      break;
    }
  }
  assert.ok(found);
  const unrecorded = `${dir.path}/unrecorded.qcow2`;
  await Deno.writeFile(unrecorded, bytes);
  const guest = await tinyGuest("x86_64");
  const builder = vm({ arch: "x86_64" }).kernel(guest.kernel, { initrd: guest.initrd });
  await assert.rejects(
    () => builder.drive(unrecorded).launch(),
    new RegExp(
      `^TypeError: Cannot launch VM: drive "drive0" "${unrecorded}": it is a qcow2 overlay of "${base}" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw\\|qcow2 -b ${base} ${unrecorded}$`,
    ),
  );
  // Given as qcow2, it is still checked.
  await assert.rejects(() => builder.drive(unrecorded, { format: "qcow2" }).launch(), /guess/);
  const vmdk = await qcow2(dir.path, "x.vmdk", "1M", "vmdk");
  await assert.rejects(
    () => builder.drive(vmdk).launch(),
    /drive "drive0" ".*x\.vmdk": it is a VMDK image, and vmkit attaches raw and qcow2 only; convert it with: qemu-img convert -O qcow2/,
  );
  await assert.rejects(
    () => builder.drive(base, { format: "qcow2" }).launch(),
    /drive "drive0" ".*base\.raw" is not a qcow2 image, but format "qcow2" was given/,
  );
  // Given as raw, a qcow2 would show the guest its header: refused too.
  await assert.rejects(
    () => builder.drive(overlay, { format: "raw" }).launch(),
    /drive "drive0" ".*overlay\.qcow2" is a qcow2 image, but format "raw" was given \(the guest would see, and could overwrite, its qcow2 header\)/,
  );
  // QEMU's own VDI banner differs from VirtualBox's: the signature tells.
  const vdi = await qcow2(dir.path, "x.vdi", "1M", "vdi");
  await assert.rejects(() => builder.drive(vdi).launch(), /it is a VDI image/);
});

Deno.test("snapshot drives discard writes; writethrough drives are write-through to the guest", async () => {
  await using dir = await scratchDir();
  const image = `${dir.path}/keep.raw`;
  await Deno.writeFile(image, new Uint8Array(1024 * 1024));
  const through = await qcow2(dir.path, "through.qcow2", "1M");
  {
    await using machine = await tinyVmWith((b) =>
      b.drive(image, { snapshot: true }).drive(through, { cache: "writethrough" })
    );
    assert.equal(
      (await machine.console.exec(
        "printf changed > /dev/vda; sync; cat /sys/block/vdb/queue/write_cache",
      ))
        .output,
      "write through",
    );
  }
  assert.ok((await Deno.readFile(image)).every((byte) => byte === 0));
});
