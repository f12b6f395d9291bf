import assert from "node:assert/strict";
import { image, ImageTimeoutError } from "../../mod.ts";
import { holdOpen, run, scratchDir } from "./_images.ts";

Deno.test("image.info types an image's fields and its whole backing chain", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/base.raw`, { size: "8M", format: "raw" });
  await image.create(`${dir.path}/mid.qcow2`, { backing: "base.raw" });
  await image.create(`${dir.path}/top.qcow2`, { backing: "mid.qcow2", size: "16M" });
  const before = Date.now();
  await run("qemu-img", "snapshot", "-c", "first", `${dir.path}/top.qcow2`);
  const info = await image.info(`${dir.path}/top.qcow2`);
  assert.equal(info.filename, `${dir.path}/top.qcow2`);
  assert.equal(info.format, "qcow2");
  assert.equal(info.virtualSize, 16 * 2 ** 20);
  assert.equal(info.actualSize, (await Deno.stat(`${dir.path}/top.qcow2`)).blocks! * 512);
  assert.equal(info.clusterSize, 65536);
  assert.equal(info.dirty, false);
  assert.equal(info.encrypted, false);
  assert.equal(info.corrupt, false);
  assert.deepEqual(info.backing, {
    filename: "mid.qcow2",
    fullFilename: `${dir.path}/mid.qcow2`,
    format: "qcow2",
  });
  assert.equal(info.snapshots.length, 1);
  const [snapshot] = info.snapshots;
  assert.deepEqual([snapshot.id, snapshot.name, snapshot.vmStateSize, snapshot.vmClock], [
    "1",
    "first",
    0,
    0,
  ]);
  assert.ok(Math.abs(snapshot.date.getTime() - before) < 60_000, String(snapshot.date));
  assert.deepEqual(
    info.chain.map((
      layer,
    ) => [layer.filename, layer.format, layer.virtualSize, layer.backing?.format]),
    [
      [`${dir.path}/top.qcow2`, "qcow2", 16 * 2 ** 20, "qcow2"],
      [`${dir.path}/mid.qcow2`, "qcow2", 8 * 2 ** 20, "raw"],
      [`${dir.path}/base.raw`, "raw", 8 * 2 ** 20, undefined],
    ],
  );
  assert.equal(info.chain[2].clusterSize, undefined);
  assert.deepEqual(info.chain[2].snapshots, []);
  // Without the chain: only the image, and its backing as recorded.
  const alone = await image.info(`${dir.path}/top.qcow2`, { backingChain: false });
  assert.equal(alone.chain.length, 1);
  assert.equal(alone.backing?.format, "qcow2");
});

Deno.test("image.info reports an encrypted image, and one not closed cleanly as dirty", async () => {
  await using dir = await scratchDir();
  const encrypted = `${dir.path}/enc.qcow2`;
  // qcow2's legacy AES encryption: made at once, where LUKS first times PBKDF2 for seconds (and
  // under load can fail to: "Unable to get accurate CPU usage").
  await run(
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "--object",
    "secret,id=sec0,data=vmkit",
    "-o",
    "encrypt.format=aes,encrypt.key-secret=sec0",
    encrypted,
    "1M",
  );
  assert.equal((await image.info(encrypted)).encrypted, true);
  const dirty = `${dir.path}/dirty.qcow2`;
  await image.create(dirty, { size: "4M" });
  await run("qemu-img", "amend", "-o", "lazy_refcounts=on", dirty);
  // qemu-io's "abort" ends it as a crash would, before the refcounts are written.
  await new Deno.Command("qemu-io", {
    args: ["-f", "qcow2", "-c", "write 0 64k", "-c", "abort", dirty],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal((await image.info(dirty)).dirty, true);
});

Deno.test("image.info reads an image another process holds open", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/busy.qcow2`;
  await image.create(path, { size: "4M" });
  await using _held = await holdOpen(path);
  assert.equal((await image.info(path)).virtualSize, 4 * 2 ** 20);
});

Deno.test("image.info names the path when the file is missing or not an image", async () => {
  await using dir = await scratchDir();
  await assert.rejects(() => image.info(`${dir.path}/nope.qcow2`), {
    name: "NotFound",
    message: `Cannot read image "${dir.path}/nope.qcow2": the file does not exist`,
  });
  await assert.rejects(() => image.info(dir.path), {
    name: "QemuImgError",
    message:
      `Cannot read image "${dir.path}": qemu-img: Could not open '${dir.path}': 'file' driver requires '${dir.path}' to be a regular file\nargv: qemu-img info --output=json --force-share --backing-chain ${dir.path}`,
  });
  const broken = `${dir.path}/broken.qcow2`;
  await image.create(`${dir.path}/good.qcow2`, { size: "1M" });
  await Deno.writeFile(broken, (await Deno.readFile(`${dir.path}/good.qcow2`)).subarray(0, 100));
  await assert.rejects(() => image.info(broken), {
    name: "QemuImgError",
    message:
      `Cannot read image "${broken}": qemu-img: Could not open '${broken}': qcow2 header too short\nargv: qemu-img info --output=json --force-share --backing-chain ${broken}`,
  });
  // A format given is not probed: a raw file given as qcow2 is refused.
  const raw = `${dir.path}/a.raw`;
  await image.create(raw, { size: "1M", format: "raw" });
  await assert.rejects(() => image.info(raw, { format: "qcow2" }), {
    name: "QemuImgError",
    message:
      `Cannot read image "${raw}": qemu-img: Could not open '${raw}': Image is not in qcow2 format\nargv: qemu-img info --output=json --force-share --backing-chain -f qcow2 ${raw}`,
  });
});

Deno.test("image.info of an overlay whose base is gone fails with the chain, works without it", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/base.raw`, { size: "1M", format: "raw" });
  const overlay = `${dir.path}/overlay.qcow2`;
  await image.create(overlay, { backing: "base.raw" });
  await Deno.remove(`${dir.path}/base.raw`);
  await assert.rejects(() => image.info(overlay), {
    name: "QemuImgError",
    message:
      `Cannot read image "${overlay}": qemu-img: Could not open '${dir.path}/base.raw': Could not open '${dir.path}/base.raw': No such file or directory\nargv: qemu-img info --output=json --force-share --backing-chain ${overlay}`,
  });
  const info = await image.info(overlay, { backingChain: false });
  assert.deepEqual(info.backing, {
    filename: "base.raw",
    fullFilename: `${dir.path}/base.raw`,
    format: "raw",
  });
});

Deno.test("image.info without qemu-img names the Debian package", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.raw`;
  await Deno.writeFile(path, new Uint8Array(512));
  const saved = Deno.env.get("PATH");
  Deno.env.set("PATH", dir.path);
  try {
    await assert.rejects(() => image.info(path), {
      name: "NotFound",
      message:
        `Cannot read image "${path}": qemu-img is not installed; install it with: apt-get install qemu-utils`,
    });
  } finally {
    Deno.env.set("PATH", saved!);
  }
});

Deno.test("image.info gives up on a timeout with a typed error, and on a cancel with its reason", async () => {
  await using dir = await scratchDir();
  const path = `${dir.path}/a.qcow2`;
  await image.create(path, { size: "1M" });
  const error = await image.info(path, { timeout: 0 }).catch((e) => e);
  assert.ok(error instanceof ImageTimeoutError);
  assert.equal(error.message, `Cannot read image "${path}": timed out after 0 ms`);
  assert.deepEqual([error.action, error.timeout], [`read image "${path}"`, 0]);
  const reason = new Error("changed my mind");
  await assert.rejects(() => image.info(path, { signal: AbortSignal.abort(reason) }), reason);
  const controller = new AbortController();
  const pending = image.info(path, { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(() => pending, reason);
});

Deno.test("image.parseImageInfo names the field qemu-img's output lacks", () => {
  assert.throws(() => image.parseImageInfo([]), {
    name: "TypeError",
    message: "Cannot read qemu-img info: it lists no image",
  });
  assert.throws(() => image.parseImageInfo("x"), {
    name: "TypeError",
    message: "Cannot read qemu-img info: the output is not an object",
  });
  assert.throws(
    () =>
      image.parseImageInfo([{ filename: "a", format: "raw", "virtual-size": 1 }, {
        filename: "b",
      }]),
    { name: "TypeError", message: "Cannot read qemu-img info: [1].format is not a string" },
  );
  assert.throws(
    () =>
      image.parseImageInfo({
        filename: "a",
        format: "qcow2",
        "virtual-size": 1,
        snapshots: [{ id: "1", name: "s", "vm-state-size": 0, "date-sec": "x" }],
      }),
    {
      name: "TypeError",
      message: "Cannot read qemu-img info: snapshots[0].date-sec is not a number",
    },
  );
});
