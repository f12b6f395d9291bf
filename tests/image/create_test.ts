import assert from "node:assert/strict";
import { image } from "../../mod.ts";
import { rawInfo, run, scratchDir, unrecordedOverlay } from "./_images.ts";

Deno.test("image.create makes qcow2 and raw images of the size asked for", async () => {
  await using dir = await scratchDir();
  // "1Gi" as Kubernetes writes it: the same binary unit as "1G".
  await image.create(`${dir.path}/a.qcow2`, { size: "1Gi" });
  await image.create(`${dir.path}/b.raw`, { size: 1536 * 1024, format: "raw" });
  await image.create(`${dir.path}/c.qcow2`, { size: "1.5M", clusterSize: "4K" });
  assert.deepEqual(
    [await rawInfo(`${dir.path}/a.qcow2`), await rawInfo(`${dir.path}/b.raw`)].map((i) => [
      i.format,
      i["virtual-size"],
    ]),
    [["qcow2", 2 ** 30], ["raw", 1536 * 1024]],
  );
  assert.equal((await rawInfo(`${dir.path}/c.qcow2`))["cluster-size"], 4096);
  // Sparse: a 1 GiB qcow2 is a few hundred KiB.
  assert.ok((await Deno.stat(`${dir.path}/a.qcow2`)).size < 1024 * 1024);
});

Deno.test("image.create preallocates as asked, per format", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/full.raw`, { size: "4M", format: "raw", preallocation: "full" });
  await image.create(`${dir.path}/meta.qcow2`, { size: "64M", preallocation: "metadata" });
  await image.create(`${dir.path}/off.qcow2`, { size: "64M" });
  const blocks = async (name: string) => (await Deno.stat(`${dir.path}/${name}`)).blocks! * 512;
  assert.ok(await blocks("full.raw") >= 4 * 2 ** 20);
  // Metadata preallocation makes the file as long as the disk, with its L2 tables written.
  assert.ok((await Deno.stat(`${dir.path}/meta.qcow2`)).size > 64 * 2 ** 20);
  assert.ok((await Deno.stat(`${dir.path}/off.qcow2`)).size < 2 ** 20);
  await assert.rejects(
    () =>
      image.create(`${dir.path}/x.raw`, { size: "4M", format: "raw", preallocation: "metadata" }),
    {
      name: "TypeError",
      message:
        `Cannot create image "${dir.path}/x.raw": preallocation "metadata" needs format "qcow2"; a raw image has no metadata (use "falloc" or "full")`,
    },
  );
  await assert.rejects(
    () => image.create(`${dir.path}/x.raw`, { size: "4M", preallocation: "some" as never }),
    {
      name: "RangeError",
      message:
        `Cannot create image "${dir.path}/x.raw": preallocation "some" is not one of "off", "metadata", "falloc", "full"`,
    },
  );
  await assert.rejects(() => Deno.stat(`${dir.path}/x.raw`), Deno.errors.NotFound);
});

Deno.test("image.create makes an overlay that records its base's format, read from the base", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/base.raw`, { size: "8M", format: "raw" });
  await image.create(`${dir.path}/mid.qcow2`, { backing: "base.raw" });
  await image.create(`${dir.path}/top.qcow2`, { backing: `${dir.path}/mid.qcow2`, size: "16M" });
  const mid = await rawInfo(`${dir.path}/mid.qcow2`);
  assert.deepEqual(
    [mid["backing-filename"], mid["backing-filename-format"], mid["virtual-size"]],
    ["base.raw", "raw", 8 * 2 ** 20],
  );
  const top = await rawInfo(`${dir.path}/top.qcow2`);
  assert.deepEqual(
    [top["backing-filename"], top["backing-filename-format"], top["virtual-size"]],
    [`${dir.path}/mid.qcow2`, "qcow2", 16 * 2 ** 20],
  );
  // A backing format given must be what the base is.
  await assert.rejects(
    () => image.create(`${dir.path}/x.qcow2`, { backing: "base.raw", backingFormat: "qcow2" }),
    {
      name: "TypeError",
      message:
        `Cannot create image "${dir.path}/x.qcow2": backing file "${dir.path}/base.raw" is not a qcow2 image, but format "qcow2" was given; leave out format to have it read from the file`,
    },
  );
  await image.create(`${dir.path}/y.qcow2`, { backing: "base.raw", backingFormat: "raw" });
  assert.equal((await rawInfo(`${dir.path}/y.qcow2`))["backing-filename-format"], "raw");
});

Deno.test("image.create reads a relative backing file from the overlay's directory, as QEMU does", async () => {
  await using dir = await scratchDir();
  await Deno.mkdir(`${dir.path}/vms`);
  await image.create(`${dir.path}/base.qcow2`, { size: "4M" });
  await assert.rejects(
    () => image.create(`${dir.path}/vms/a.qcow2`, { backing: "base.qcow2" }),
    {
      name: "NotFound",
      message:
        `Cannot create image "${dir.path}/vms/a.qcow2": backing file "base.qcow2" does not exist (a relative name is read from "${dir.path}/vms", as QEMU does)`,
    },
  );
  await image.create(`${dir.path}/vms/a.qcow2`, { backing: "../base.qcow2" });
  assert.equal((await image.info(`${dir.path}/vms/a.qcow2`)).chain.length, 2);
});

Deno.test("image.create refuses a base QEMU would have to guess a format in", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/base.raw`, { size: "4M", format: "raw" });
  const unrecorded = await unrecordedOverlay(
    `${dir.path}/unrecorded.qcow2`,
    `${dir.path}/base.raw`,
  );
  await assert.rejects(
    () => image.create(`${dir.path}/a.qcow2`, { backing: unrecorded }),
    {
      name: "TypeError",
      message:
        `Cannot create image "${dir.path}/a.qcow2": backing file "${unrecorded}": it is a qcow2 overlay of "${dir.path}/base.raw" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${dir.path}/base.raw ${unrecorded}`,
    },
  );
  // Deeper down the chain too: an overlay of an overlay of the unrecorded one.
  await run(
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "qcow2",
    "-b",
    unrecorded,
    `${dir.path}/mid.qcow2`,
  );
  await assert.rejects(
    () => image.create(`${dir.path}/a.qcow2`, { backing: "mid.qcow2" }),
    {
      name: "TypeError",
      message:
        `Cannot create image "${dir.path}/a.qcow2": backing file "${unrecorded}": it is a qcow2 overlay of "${dir.path}/base.raw" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${dir.path}/base.raw ${unrecorded}`,
    },
  );
  await run("qemu-img", "create", "-q", "-f", "vmdk", `${dir.path}/disk.vmdk`, "1M");
  await assert.rejects(
    () => image.create(`${dir.path}/a.qcow2`, { backing: "disk.vmdk" }),
    {
      name: "TypeError",
      message:
        `Cannot create image "${dir.path}/a.qcow2": backing file "${dir.path}/disk.vmdk": it is a VMDK image, and vmkit attaches raw and qcow2 only; convert it with: qemu-img convert -O qcow2 ${dir.path}/disk.vmdk ${dir.path}/disk.vmdk.qcow2`,
    },
  );
  await assert.rejects(() => Deno.stat(`${dir.path}/a.qcow2`), Deno.errors.NotFound);
});

Deno.test("image.create refuses an existing file unless told to overwrite it", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "4M" });
  await assert.rejects(() => image.create(path, { size: "8M" }), {
    name: "AlreadyExists",
    message:
      `Cannot create image "${path}": the file exists; pass { overwrite: true } to replace it`,
  });
  assert.equal((await rawInfo(path))["virtual-size"], 4 * 2 ** 20);
  await image.create(path, { size: "8M", overwrite: true });
  assert.equal((await rawInfo(path))["virtual-size"], 8 * 2 ** 20);
  await assert.rejects(() => image.create(path, { backing: "a.qcow2", overwrite: true }), {
    name: "TypeError",
    message: `Cannot create image "${path}": it would be its own backing file (through "a.qcow2")`,
  });
});

Deno.test("image.create names what is wrong with its options", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.img`;
  const cases: [Parameters<typeof image.create>[1], string, string][] = [
    [{}, "TypeError", "give its size (or a backing file to take the size from)"],
    [
      { size: "10Q" },
      "RangeError",
      `size "10Q" has an unknown unit "Q"; use K, M, G, T or P (powers of 1024), or no unit for bytes`,
    ],
    [
      { size: "ten" },
      "RangeError",
      `size "ten" is not a size; use a number of bytes or a number and a unit, like "10G"`,
    ],
    [
      { size: 1000 },
      "RangeError",
      "size 1000 is not a whole number of 512-byte sectors (1000 bytes)",
    ],
    [{ size: "0" }, "RangeError", `size "0" must be more than 0`],
    [{ size: "1.3K" }, "RangeError", `size "1.3K" is not a whole number of bytes`],
    [
      { size: "1M", format: "vmdk" as never },
      "RangeError",
      `format "vmdk" is not one vmkit creates; use "qcow2" or "raw"`,
    ],
    [
      { size: "1M", format: "raw", backing: "b.raw" },
      "TypeError",
      `a raw image cannot have a backing file ("b.raw"); use format "qcow2"`,
    ],
    [
      { size: "1M", backingFormat: "raw" },
      "TypeError",
      `backingFormat "raw" was given without a backing file`,
    ],
    [
      { backing: "b.raw", preallocation: "full" },
      "TypeError",
      `preallocation "full" and backing file "b.raw" cannot be used together (QEMU allows it only with extended L2 entries)`,
    ],
    [
      { size: "1M", format: "raw", clusterSize: "64K" },
      "TypeError",
      `clusterSize is a qcow2 option; format "raw" has no clusters`,
    ],
    [
      { size: "1M", clusterSize: "3K" },
      "RangeError",
      `cluster size "3K" is not a power of two from 512 bytes to 2 MiB`,
    ],
    [
      { size: "1M", clusterSize: "4M" },
      "RangeError",
      `cluster size "4M" is not a power of two from 512 bytes to 2 MiB`,
    ],
    [
      { size: "1M", clusterSize: "1.3K" },
      "RangeError",
      `cluster size "1.3K" is not a whole number of bytes`,
    ],
    [
      { size: "1M", timeout: -1 },
      "RangeError",
      "with timeout -1: use milliseconds from 0 to 2147483647",
    ],
  ];
  for (const [options, name, reason] of cases) {
    const message = reason.startsWith("with timeout")
      ? `Cannot create image "${path}" ${reason}`
      : `Cannot create image "${path}": ${reason}`;
    await assert.rejects(() => image.create(path, options), { name, message });
  }
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("image.create treats a name with a colon as a file, never a protocol", async () => {
  await using dir = await scratchDir();
  const cwd = Deno.cwd();
  Deno.chdir(dir.path);
  try {
    await image.create("nbd:localhost:10809", { size: "1M", format: "raw" });
    await image.create("json:{}", { backing: "nbd:localhost:10809" });
    assert.equal((await Deno.stat(`${dir.path}/nbd:localhost:10809`)).size, 2 ** 20);
    const info = await image.info("json:{}");
    assert.deepEqual(info.backing, {
      filename: "./nbd:localhost:10809",
      fullFilename: "././nbd:localhost:10809",
      format: "raw",
    });
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("image.create gives qemu-img's own words when it fails", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/no-such-dir/a.qcow2`;
  await assert.rejects(() => image.create(path, { size: "1M" }), {
    name: "QemuImgError",
    message:
      `Cannot create image "${path}": qemu-img: ${path}: Could not create '${path}': No such file or directory\nargv: qemu-img create -q -f qcow2 ${path} 1048576`,
  });
});
