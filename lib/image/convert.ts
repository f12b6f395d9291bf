/**
 * Copying an image into another format with `qemu-img convert`, with its progress.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { pathExists } from "../_fs.ts";
import type { ImageFormat } from "../vm/image_format.ts";
import { readInfo } from "./info.ts";
import { deadline, fileName, requireFile, runQemuImg } from "./_qemu_img.ts";
import { progressLine } from "../_progress.ts";

/** Formats {@linkcode convertImage} writes: vmkit's own, and other hypervisors' for export. */
export type ConvertFormat = ImageFormat | "vmdk" | "vdi" | "vhdx" | "vpc";

/** Progress of a conversion, as qemu-img reports it (`-p`). */
export interface ConvertProgress {
  /** From 0 to 100. */
  percent: number;
}

/** Options of {@linkcode convertImage}. */
export interface ConvertImageOptions extends WaitOptions {
  /** The format to write. Default `"qcow2"`. */
  format?: ConvertFormat;
  /** The source's format, so qemu-img does not probe it (`-f`). Default: read from the file. */
  sourceFormat?: string;
  /** Compress the data (qcow2 only, `-c`): smaller, slower to write, read as fast. */
  compress?: boolean;
  /** Called as the conversion progresses. */
  onProgress?: (progress: ConvertProgress) => void;
  /** Draw a progress line on stderr when it is a terminal. Default `false`. */
  progress?: boolean;
  /** Replace a file that is at `destination`. Default `false`: an existing file is refused. */
  overwrite?: boolean;
}

const FORMATS: readonly ConvertFormat[] = ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"];

/**
 * Copies an image into a new file with `qemu-img convert`: another format, compressed, or the
 * whole backing chain flattened into one image. It writes a temporary file beside `destination`
 * and renames it into place when qemu-img succeeds, so a failed, cancelled or timed-out
 * conversion leaves nothing at `destination`. A source that would make QEMU guess a backing
 * format (a qcow2 overlay without a recorded one, anywhere down its chain) is refused.
 *
 * @param source The image to read; any format qemu-img reads.
 * @param destination The image to write.
 * @param options Format, source format, compression, progress, overwrite, cancellation and time
 *   limit.
 * @throws {RangeError} For a format vmkit does not write.
 * @throws {TypeError} For compression of a format other than qcow2, the same file as source and
 *   destination, or a source with an unrecorded backing format.
 * @throws {Deno.errors.NotFound} When the source does not exist, or qemu-img is not installed.
 * @throws {Deno.errors.AlreadyExists} When `destination` exists and `overwrite` is not set.
 * @throws {QemuImgError} When qemu-img fails; the message gives its words.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.convert("disk.vmdk", "disk.qcow2", {
 *   compress: true,
 *   onProgress: ({ percent }) => console.log(`${percent}%`),
 * });
 * ```
 */
export async function convertImage(
  source: string,
  destination: string,
  options: ConvertImageOptions = {},
): Promise<void> {
  const what = `Cannot convert "${source}" to "${destination}"`;
  const limit = deadline(`convert "${source}"`, options);
  const format = options.format ?? "qcow2";
  if (!FORMATS.includes(format)) {
    throw new RangeError(
      `${what}: format ${JSON.stringify(format)} is not one vmkit writes; use ${
        FORMATS.map((f) => `"${f}"`).join(", ")
      }`,
    );
  }
  if (options.compress && format !== "qcow2") {
    throw new TypeError(
      `${what}: compress needs format "qcow2"; format "${format}" cannot hold compressed data`,
    );
  }
  await requireFile(what, source);
  if (await pathExists(destination)) {
    const [a, b] = await Promise.all([Deno.stat(source), Deno.stat(destination)]);
    if (a.dev === b.dev && a.ino === b.ino) {
      throw new TypeError(`${what}: they are the same file`);
    }
    if (!options.overwrite) {
      throw new Deno.errors.AlreadyExists(
        `${what}: "${destination}" exists; pass { overwrite: true } to replace it`,
      );
    }
  }
  const info = await readInfo(what, source, { format: options.sourceFormat }, limit);
  for (const layer of info.chain) {
    if (layer.backing !== undefined && layer.backing.format === undefined) {
      throw new TypeError(
        `${what}: "${layer.filename}" is a ${layer.format} overlay of "${layer.backing.filename}" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${layer.backing.filename} ${layer.filename}`,
      );
    }
  }

  const slash = destination.lastIndexOf("/");
  const dir = slash < 0 ? "." : destination.slice(0, slash) || "/";
  if (!await pathExists(dir)) {
    throw new Deno.errors.NotFound(`${what}: directory "${dir}" does not exist`);
  }
  // qemu-img makes the file (with the mode it gives new images) under a name of its own.
  const temp = `${dir}/.${destination.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.part`;
  const args = ["convert", "-f", info.format, "-O", format];
  if (options.compress) args.push("-c");
  const line = progressLine(`Converting ${source}`, options.progress);
  const watch = options.onProgress !== undefined || options.progress === true;
  if (watch) args.push("-p");
  args.push(fileName(source), fileName(temp));
  let last = -1;
  let pending = "";
  const onStdout = (text: string) => {
    // qemu-img -p prints "    (12.50/100%)\r" per step; a read may end mid-step.
    pending += text;
    const end = pending.lastIndexOf("\r") + 1;
    for (const match of pending.slice(0, end).matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) {
      const percent = Number(match[1]);
      if (percent === last) continue;
      last = percent;
      options.onProgress?.({ percent });
      line.update(percent / 100);
    }
    pending = pending.slice(end);
  };
  try {
    await runQemuImg({ what, path: source }, args, limit, watch ? { onStdout } : {});
    await Deno.rename(temp, destination);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  } finally {
    line.done();
  }
}
