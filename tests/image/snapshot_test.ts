import assert from "node:assert/strict";
import { image } from "../../mod.ts";
import { holdOpen, run, scratchDir } from "./_images.ts";

/** The first byte of the guest's disk, read with qemu-io. */
async function firstByte(path: string): Promise<string> {
  const out = await run("qemu-io", "-f", "qcow2", "-c", "read -v 0 1", path);
  return out.split("\n")[0].split(/\s+/)[1];
}

Deno.test("image.snapshot takes, lists, applies and deletes snapshots of an image offline", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/disk.qcow2`;
  await image.create(path, { size: "4M" });
  await run("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 64k", path);
  assert.deepEqual(await image.snapshots(path), []);
  await image.snapshot.create(path, "before");
  await run("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 64k", path);
  await image.snapshot.create(path, "after");
  const list = await image.snapshots(path);
  assert.deepEqual(list.map((s) => [s.id, s.name, s.vmStateSize]), [["1", "before", 0], [
    "2",
    "after",
    0,
  ]]);
  assert.deepEqual(await image.snapshot.list(path), list);
  assert.equal(await firstByte(path), "22");
  await image.snapshot.apply(path, "before");
  assert.equal(await firstByte(path), "11");
  await image.snapshot.apply(path, "2"); // by id, as QEMU allows
  assert.equal(await firstByte(path), "22");
  await image.snapshot.delete(path, "before");
  assert.deepEqual((await image.snapshots(path)).map((s) => s.name), ["after"]);
});

Deno.test("image.snapshot refuses names QEMU would take for another snapshot", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/disk.qcow2`;
  await image.create(path, { size: "4M" });
  await image.snapshot.create(path, "a");
  await assert.rejects(() => image.snapshot.create(path, "a"), {
    name: "TypeError",
    message:
      `Cannot create snapshot "a" of "${path}": it has snapshot "a" (id 1); choose another name or delete that one first`,
  });
  await assert.rejects(() => image.snapshot.create(path, "1"), {
    name: "TypeError",
    message:
      `Cannot create snapshot "1" of "${path}": it has snapshot id 1 ("a"); choose another name or delete that one first`,
  });
  // Made outside vmkit: a snapshot named "1" beside the one whose id is 1, and a second "a".
  await run("qemu-img", "snapshot", "-c", "2", path);
  await run("qemu-img", "snapshot", "-c", "a", path);
  await run("qemu-img", "snapshot", "-c", "1", path);
  await assert.rejects(() => image.snapshot.apply(path, "1"), {
    name: "TypeError",
    message:
      `Cannot apply snapshot "1" to "${path}": it names 2 snapshots (id 1 "a", id 4 "1"); give the id of the one you mean`,
  });
  await assert.rejects(() => image.snapshot.delete(path, "a"), {
    name: "TypeError",
    message:
      `Cannot delete snapshot "a" of "${path}": it names 2 snapshots (id 1 "a", id 3 "a"); give the id of the one you mean`,
  });
  await assert.rejects(() => image.snapshot.apply(path, "nope"), {
    name: "NotFound",
    message:
      `Cannot apply snapshot "nope" to "${path}": it has no such snapshot (it has "a", "2", "a", "1")`,
  });
  await assert.rejects(() => image.snapshot.create(path, ""), {
    name: "TypeError",
    message:
      `Cannot create snapshot "" of "${path}": a snapshot name must be a non-empty string without newlines or NUL`,
  });
  await assert.rejects(() => image.snapshot.create(path, "x\ny"), {
    name: "TypeError",
    message:
      `Cannot create snapshot "x\\ny" of "${path}": a snapshot name must be a non-empty string without newlines or NUL`,
  });
});

Deno.test("image.snapshot refuses raw images and missing files, and passes on qemu-img's lock error", async () => {
  await using dir = await scratchDir();
  const raw = `${dir.path}/a.raw`;
  await image.create(raw, { size: "1M", format: "raw" });
  await assert.rejects(() => image.snapshot.create(raw, "s"), {
    name: "TypeError",
    message:
      `Cannot create snapshot "s" of "${raw}": it is a raw image; only qcow2 holds snapshots`,
  });
  assert.deepEqual(await image.snapshots(raw), []);
  await assert.rejects(() => image.snapshot.delete(`${dir.path}/nope.qcow2`, "s"), {
    name: "NotFound",
    message: `Cannot delete snapshot "s" of "${dir.path}/nope.qcow2": the file does not exist`,
  });
  await assert.rejects(() => image.snapshots(`${dir.path}/nope.qcow2`), {
    name: "NotFound",
    message: `Cannot list snapshots of "${dir.path}/nope.qcow2": the file does not exist`,
  });
  // A name with a comma and a colon is still a file (qemu-img snapshot takes no -f: vmkit passes
  // --image-opts, so nothing is probed).
  const path = `${dir.path}/a,b:c.qcow2`;
  await image.create(path, { size: "1M" });
  await image.snapshot.create(path, "s");
  assert.deepEqual((await image.snapshots(path)).map((s) => s.name), ["s"]);
  await using _held = await holdOpen(path);
  await assert.rejects(() => image.snapshot.create(path, "t"), {
    name: "QemuImgError",
    message:
      `Cannot create snapshot "t" of "${path}": qemu-img: Could not open 'driver=qcow2,file.driver=file,file.filename=${dir.path}/a,,b:c.qcow2': Failed to get "write" lock Is another process using the image [${path}]?\nargv: qemu-img snapshot -q -c t --image-opts driver=qcow2,file.driver=file,file.filename=${dir.path}/a,,b:c.qcow2`,
  });
});
