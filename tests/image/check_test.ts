import assert from "node:assert/strict";
import { image } from "../../mod.ts";
import { holdOpen, run, scratchDir } from "./_images.ts";

/** A qcow2 image with one leaked cluster: data written, then its L2 entry zeroed. */
async function leakyImage(path: string): Promise<string> {
  await image.create(path, { size: "16M" });
  await run("qemu-io", "-f", "qcow2", "-c", "write 0 64k", path);
  using file = await Deno.open(path, { read: true, write: true });
  const read = async (offset: number) => {
    const bytes = new Uint8Array(8);
    await file.seek(offset, Deno.SeekMode.Start);
    await file.read(bytes);
    return new DataView(bytes.buffer).getBigUint64(0);
  };
  // Header: the L1 table's offset at byte 40; an L1 entry's bits 9-55 hold its L2 table's.
  const l1 = Number(await read(40));
  const l2 = Number((await read(l1)) & 0x00fffffffffffe00n);
  await file.seek(l2, Deno.SeekMode.Start);
  await file.write(new Uint8Array(8));
  return path;
}

Deno.test("image.check finds nothing wrong in a healthy image", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "16M" });
  await run("qemu-io", "-f", "qcow2", "-c", "write 0 1M", path);
  const result = await image.check(path);
  assert.deepEqual(result, {
    filename: path,
    format: "qcow2",
    ok: true,
    corruptions: 0,
    leaks: 0,
    checkErrors: 0,
    corruptionsFixed: 0,
    leaksFixed: 0,
    imageEndOffset: result.imageEndOffset,
    totalClusters: 256,
    allocatedClusters: 16,
    messages: [],
  });
  assert.ok(result.imageEndOffset! >= 17 * 65536);
});

Deno.test("image.check reports a leaked cluster, and repairs it when asked", async () => {
  await using dir = await scratchDir();
  const path = await leakyImage(`${dir.path}/leaky.qcow2`);
  const found = await image.check(path);
  assert.deepEqual(
    [found.ok, found.leaks, found.corruptions, found.leaksFixed, found.messages],
    [false, 1, 0, 0, ["Leaked cluster 5 refcount=1 reference=0"]],
  );
  const repaired = await image.check(path, { repair: "leaks" });
  assert.deepEqual([repaired.ok, repaired.leaks, repaired.leaksFixed], [true, 0, 1]);
  assert.equal((await image.check(path)).ok, true);
});

Deno.test("image.check reports the corruptions of an image that crashed with lazy refcounts, and repairs them", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/crashed.qcow2`;
  await image.create(path, { size: "16M" });
  await run("qemu-img", "amend", "-o", "lazy_refcounts=on", path);
  await new Deno.Command("qemu-io", {
    args: ["-f", "qcow2", "-c", "write 0 1M", "-c", "abort", path],
    stdout: "null",
    stderr: "null",
  }).output();
  const found = await image.check(path);
  assert.equal(found.ok, false);
  assert.ok(found.corruptions > 0);
  assert.equal(found.corruptions, found.messages.filter((m) => m.startsWith("ERROR")).length);
  const repaired = await image.check(path, { repair: "all" });
  assert.deepEqual([repaired.ok, repaired.corruptions], [true, 0]);
  assert.ok(repaired.corruptionsFixed > 0);
  assert.equal((await image.info(path)).dirty, false);
});

Deno.test("image.check refuses what it cannot check, naming it", async () => {
  await using dir = await scratchDir();
  await assert.rejects(() => image.check(`${dir.path}/nope.qcow2`), {
    name: "NotFound",
    message: `Cannot check "${dir.path}/nope.qcow2": the file does not exist`,
  });
  const raw = `${dir.path}/a.raw`;
  await image.create(raw, { size: "1M", format: "raw" });
  await assert.rejects(() => image.check(raw), {
    name: "TypeError",
    message:
      `Cannot check "${raw}": it is a raw image, which has no metadata to check; only qcow2 has`,
  });
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "1M" });
  await assert.rejects(() => image.check(path, { repair: "everything" as never }), {
    name: "RangeError",
    message: `Cannot check "${path}": repair "everything" is not "leaks" or "all"`,
  });
  await using _held = await holdOpen(path);
  await assert.rejects(() => image.check(path), {
    name: "QemuImgError",
    message:
      `Cannot check "${path}": qemu-img: Could not open '${path}': Failed to get shared "write" lock Is another process using the image [${path}]?\nargv: qemu-img check --output=json -f qcow2 ${path}`,
  });
});
