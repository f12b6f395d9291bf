import assert from "node:assert/strict";
import { extractVmlinux, hasPvhEntry, lz4LegacyDecompress, parseElfHeader } from "../../mod.ts";

const cache = new URL("../../.cache/vmkit/x86_64/", import.meta.url).pathname;

Deno.test("extractVmlinux unpacks Debian's LZ4 bzImage into a PVH-bootable ELF of the announced size", async () => {
  const bzImage = await Deno.readFile(`${cache}vmlinuz`);
  const vmlinux = await extractVmlinux(bzImage);
  assert.ok(vmlinux !== undefined);
  const header = parseElfHeader(vmlinux);
  assert.deepEqual([header.bits, header.endian, header.machine], [64, "little", 0x3e]);
  assert.ok(hasPvhEntry(vmlinux));
  // The setup header's payload ends with the decompressed size, as the kernel's build appends it.
  const view = new DataView(bzImage.buffer);
  const end = (bzImage[0x1f1] + 1) * 512 + view.getUint32(0x248, true) +
    view.getUint32(0x24c, true);
  assert.equal(vmlinux.length, view.getUint32(end - 4, true));
  // What setup wrote for tinyGuest is the same.
  assert.deepEqual(await Deno.readFile(`${cache}vmlinux`), vmlinux);
});

Deno.test("extractVmlinux returns undefined for what it cannot boot through PVH", async () => {
  assert.equal(await extractVmlinux(new Uint8Array(4096)), undefined);
  const bzImage = (await Deno.readFile(`${cache}vmlinuz`)).slice();
  const view = new DataView(bzImage.buffer);
  const start = (bzImage[0x1f1] + 1) * 512 + view.getUint32(0x248, true);
  bzImage.fill(0xff, start + 4, start + 64); // corrupt the first LZ4 block
  assert.equal(await extractVmlinux(bzImage), undefined);
  assert.equal(hasPvhEntry(await Deno.readFile(Deno.execPath())), false);
});

Deno.test("lz4LegacyDecompress decodes literals, overlapping matches and several blocks", () => {
  // Block 1: "abc" then a match of offset 3, length 9 ("abcabcabc"), then literal "Z".
  // Block 2: literal "xy" then an overlapping match of offset 1, length 5 ("yyyyy"), then "!".
  const block1 = [0x35, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x5a];
  const block2 = [0x21, 0x78, 0x79, 0x01, 0x00, 0x10, 0x21];
  const frame = new Uint8Array([
    0x02,
    0x21,
    0x4c,
    0x18,
    block1.length,
    0,
    0,
    0,
    ...block1,
    block2.length,
    0,
    0,
    0,
    ...block2,
    20,
    0,
    0,
    0, // the appended size: ignored
  ]);
  assert.equal(new TextDecoder().decode(lz4LegacyDecompress(frame)), "abcabcabcabcZxyyyyyy!");
  assert.throws(() => lz4LegacyDecompress(new Uint8Array(8)), /not a legacy LZ4 frame/);
  const bad = new Uint8Array([0x02, 0x21, 0x4c, 0x18, 4, 0, 0, 0, 0x00, 0x09, 0x00, 0x00]);
  assert.throws(() => lz4LegacyDecompress(bad), /a match points before the output/);
});
