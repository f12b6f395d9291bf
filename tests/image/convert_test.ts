import assert from "node:assert/strict";
import { image, ImageTimeoutError } from "../../mod.ts";
import { entries, rawInfo, run, scratchDir, unrecordedOverlay } from "./_images.ts";

/** A raw image of `mib` MiB of random bytes. */
async function randomRaw(path: string, mib: number): Promise<string> {
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(2 ** 20);
  for (let i = 0; i < mib; i++) {
    for (let at = 0; at < chunk.length; at += 65536) {
      crypto.getRandomValues(chunk.subarray(at, at + 65536));
    }
    await file.write(chunk);
  }
  return path;
}

/** Whether qemu-img compare finds the two images' guest-visible contents identical. */
async function identical(a: string, b: string): Promise<boolean> {
  const { code } = await new Deno.Command("qemu-img", { args: ["compare", "-q", a, b] }).output();
  return code === 0;
}

Deno.test("image.convert copies into a compressed qcow2, reporting progress, and leaves no temporary file", async () => {
  await using dir = await scratchDir();
  const source = await randomRaw(`${dir.path}/disk.raw`, 8);
  const destination = `${dir.path}/disk.qcow2`;
  const seen: number[] = [];
  await image.convert(source, destination, {
    compress: true,
    onProgress: ({ percent }) => seen.push(percent),
  });
  assert.equal((await rawInfo(destination)).format, "qcow2");
  assert.ok(await identical(source, destination));
  assert.ok(seen.length >= 2, String(seen));
  assert.equal(seen.at(-1), 100);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.deepEqual(await entries(dir.path), ["disk.qcow2", "disk.raw"]);
});

Deno.test("image.convert flattens a backing chain into one image", async () => {
  await using dir = await scratchDir();
  await image.create(`${dir.path}/base.raw`, { size: "4M", format: "raw" });
  await run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", `${dir.path}/base.raw`);
  const overlay = `${dir.path}/overlay.qcow2`;
  await image.create(overlay, { backing: "base.raw" });
  await run("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 1M 1M", overlay);
  await image.convert(overlay, `${dir.path}/flat.qcow2`);
  const flat = await image.info(`${dir.path}/flat.qcow2`);
  assert.equal(flat.backing, undefined);
  assert.equal(flat.chain.length, 1);
  assert.ok(await identical(overlay, `${dir.path}/flat.qcow2`));
});

Deno.test("image.convert writes other hypervisors' formats, and reads them back", async () => {
  await using dir = await scratchDir();
  const source = await randomRaw(`${dir.path}/disk.raw`, 1);
  for (const format of ["vmdk", "vdi", "vhdx", "vpc", "raw"] as const) {
    const path = `${dir.path}/disk.${format}.img`;
    await image.convert(source, path, { format });
    assert.equal((await image.info(path)).format, format);
    await image.convert(path, `${dir.path}/back-${format}.qcow2`);
    assert.ok(await identical(source, `${dir.path}/back-${format}.qcow2`), format);
  }
});

Deno.test("image.convert refuses to replace a file unless told to, and never its own source", async () => {
  await using dir = await scratchDir();
  const source = `${dir.path}/a.qcow2`;
  const destination = `${dir.path}/b.raw`;
  await image.create(source, { size: "1M" });
  await Deno.writeTextFile(destination, "keep me");
  await assert.rejects(() => image.convert(source, destination, { format: "raw" }), {
    name: "AlreadyExists",
    message:
      `Cannot convert "${source}" to "${destination}": "${destination}" exists; pass { overwrite: true } to replace it`,
  });
  assert.equal(await Deno.readTextFile(destination), "keep me");
  await image.convert(source, destination, { format: "raw", overwrite: true });
  assert.equal((await Deno.stat(destination)).size, 2 ** 20);
  await assert.rejects(() => image.convert(source, source, { overwrite: true }), {
    name: "TypeError",
    message: `Cannot convert "${source}" to "${source}": they are the same file`,
  });
});

Deno.test("image.convert names what is wrong before running qemu-img", async () => {
  await using dir = await scratchDir();
  const source = `${dir.path}/a.qcow2`;
  const what = `Cannot convert "${source}" to "${dir.path}/b"`;
  await assert.rejects(() => image.convert(source, `${dir.path}/b`), {
    name: "NotFound",
    message: `${what}: the file does not exist`,
  });
  await image.create(source, { size: "1M" });
  await assert.rejects(
    () => image.convert(source, `${dir.path}/b`, { format: "raw", compress: true }),
    {
      name: "TypeError",
      message: `${what}: compress needs format "qcow2"; format "raw" cannot hold compressed data`,
    },
  );
  await assert.rejects(() => image.convert(source, `${dir.path}/b`, { format: "qed" as never }), {
    name: "RangeError",
    message:
      `${what}: format "qed" is not one vmkit writes; use "qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"`,
  });
  await image.create(`${dir.path}/base.raw`, { size: "1M", format: "raw" });
  const unrecorded = await unrecordedOverlay(`${dir.path}/u.qcow2`, `${dir.path}/base.raw`);
  await assert.rejects(() => image.convert(unrecorded, `${dir.path}/b`), {
    name: "TypeError",
    message:
      `Cannot convert "${unrecorded}" to "${dir.path}/b": "${unrecorded}" is a qcow2 overlay of "${dir.path}/base.raw" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${dir.path}/base.raw ${unrecorded}`,
  });
  await assert.rejects(
    () => image.convert(`${dir.path}/base.raw`, `${dir.path}/b`, { sourceFormat: "qcow2" }),
    {
      name: "QemuImgError",
      message:
        `Cannot convert "${dir.path}/base.raw" to "${dir.path}/b": qemu-img: Could not open '${dir.path}/base.raw': Image is not in qcow2 format\nargv: qemu-img info --output=json --force-share --backing-chain -f qcow2 ${dir.path}/base.raw`,
    },
  );
  await assert.rejects(() => image.convert(source, `${dir.path}/no/b`), {
    name: "NotFound",
    message:
      `Cannot convert "${source}" to "${dir.path}/no/b": directory "${dir.path}/no" does not exist`,
  });
  assert.deepEqual(await entries(dir.path), ["a.qcow2", "base.raw", "u.qcow2"]);
});

Deno.test("image.convert cancelled or timed out leaves nothing behind", async () => {
  await using dir = await scratchDir();
  const source = await randomRaw(`${dir.path}/disk.raw`, 64);
  const destination = `${dir.path}/disk.qcow2`;
  const controller = new AbortController();
  const reason = new Error("stop");
  const seen: number[] = [];
  await assert.rejects(
    () =>
      image.convert(source, destination, {
        compress: true,
        signal: controller.signal,
        onProgress: ({ percent }) => {
          seen.push(percent);
          if (percent > 0) controller.abort(reason);
        },
      }),
    reason,
  );
  assert.ok(seen.at(-1)! > 0 && seen.at(-1)! < 100, String(seen));
  assert.deepEqual(await entries(dir.path), ["disk.raw"]);
  const error = await image.convert(source, destination, { compress: true, timeout: 200 })
    .catch((e) => e);
  assert.ok(error instanceof ImageTimeoutError, String(error));
  assert.equal(error.message, `Cannot convert "${source}": timed out after 200 ms`);
  assert.deepEqual(await entries(dir.path), ["disk.raw"]);
});

Deno.test("image.convert stops qemu-img and leaves nothing when its onProgress throws", async () => {
  await using dir = await scratchDir();
  const source = await randomRaw(`${dir.path}/disk.raw`, 64);
  const thrown = new Error("the progress display is gone");
  await assert.rejects(
    () =>
      image.convert(source, `${dir.path}/disk.qcow2`, {
        compress: true,
        onProgress: ({ percent }) => {
          if (percent > 0) throw thrown;
        },
      }),
    thrown,
  );
  const { stdout } = await new Deno.Command("pgrep", { args: ["-af", dir.path], stdout: "piped" })
    .output();
  assert.equal(new TextDecoder().decode(stdout), "", "no qemu-img runs on");
  assert.deepEqual(await entries(dir.path), ["disk.raw"]);
});
