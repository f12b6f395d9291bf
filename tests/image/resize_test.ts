import assert from "node:assert/strict";
import { image } from "../../mod.ts";
import { holdOpen, rawInfo, scratchDir, unrecordedOverlay } from "./_images.ts";

Deno.test("image.resize grows to a size or by an amount, and returns the new size", async () => {
  await using dir = await scratchDir();
  const qcow2 = `${dir.path}/a.qcow2`;
  const raw = `${dir.path}/a.raw`;
  await image.create(qcow2, { size: "1G" });
  await image.create(raw, { size: "1M", format: "raw" });
  assert.equal(await image.resize(qcow2, "2G"), 2 * 2 ** 30);
  assert.equal(await image.resize(qcow2, "+512M"), 2.5 * 2 ** 30);
  assert.equal(await image.resize(raw, 3 * 2 ** 20), 3 * 2 ** 20);
  assert.equal((await rawInfo(qcow2))["virtual-size"], 2.5 * 2 ** 30);
  assert.equal((await Deno.stat(raw)).size, 3 * 2 ** 20);
  // The same size is nothing to do.
  assert.equal(await image.resize(raw, "3M"), 3 * 2 ** 20);
});

Deno.test("image.resize shrinks only when told to, and says so", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "1G" });
  await assert.rejects(() => image.resize(path, "512M"), {
    name: "RangeError",
    message:
      `Cannot resize "${path}" to 512 MiB: it is 1 GiB, and shrinking drops the guest's data past the new end; pass { shrink: true } to shrink`,
  });
  await assert.rejects(() => image.resize(path, "-1.5M"), {
    name: "RangeError",
    message:
      `Cannot resize "${path}" to 1022.5 MiB: it is 1 GiB, and shrinking drops the guest's data past the new end; pass { shrink: true } to shrink`,
  });
  await assert.rejects(() => image.resize(path, "-1G", { shrink: true }), {
    name: "RangeError",
    message: `Cannot resize "${path}" by "-1G": it is 1 GiB, so nothing would be left`,
  });
  assert.equal((await rawInfo(path))["virtual-size"], 2 ** 30);
  assert.equal(await image.resize(path, "-512M", { shrink: true }), 512 * 2 ** 20);
  assert.equal((await rawInfo(path))["virtual-size"], 512 * 2 ** 20);
});

Deno.test("image.resize passes on qemu-img's words: an image another process has open", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "8M" });
  {
    await using _held = await holdOpen(path);
    await assert.rejects(() => image.resize(path, "16M"), {
      name: "QemuImgError",
      message:
        `Cannot resize "${path}": qemu-img: Could not open '${path}': Failed to get "write" lock Is another process using the image [${path}]?\nargv: qemu-img resize -q -f qcow2 ${path} 16777216`,
    });
  }
  assert.equal(await image.resize(path, "16M"), 16 * 2 ** 20);
});

Deno.test("image.resize refuses what it cannot resize, naming it", async () => {
  await using dir = await scratchDir();
  await assert.rejects(() => image.resize(`${dir.path}/nope.qcow2`, "1G"), {
    name: "NotFound",
    message: `Cannot resize "${dir.path}/nope.qcow2": the file does not exist`,
  });
  await image.create(`${dir.path}/base.raw`, { size: "1M", format: "raw" });
  const unrecorded = await unrecordedOverlay(`${dir.path}/u.qcow2`, `${dir.path}/base.raw`);
  await assert.rejects(() => image.resize(unrecorded, "2M"), {
    name: "TypeError",
    message:
      `Cannot resize "${unrecorded}": it is a qcow2 overlay of "${dir.path}/base.raw" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${dir.path}/base.raw ${unrecorded}`,
  });
  await assert.rejects(() => image.resize(`${dir.path}/base.raw`, "+1 parsec"), {
    name: "RangeError",
    message:
      `Cannot resize "${dir.path}/base.raw": size "1 parsec" has an unknown unit "parsec"; use K, M, G, T or P (powers of 1024), or no unit for bytes`,
  });
});
