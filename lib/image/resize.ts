/**
 * Growing or shrinking an image with `qemu-img resize`.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { checkImageFormat } from "../vm/image_format.ts";
import { readInfo } from "./info.ts";
import { deadline, fileName, requireFile, runQemuImg } from "./_qemu_img.ts";
import { formatSize, parseImageSize } from "./_size.ts";
import { binarySize } from "../_size.ts";

/** Options of {@linkcode resizeImage}. */
export interface ResizeImageOptions extends WaitOptions {
  /**
   * Allow the new size to be smaller: the guest's data past the new end is lost (shrink the
   * guest's file system and partitions first). Default `false`: shrinking is refused.
   */
  shrink?: boolean;
}

/**
 * Changes the size the guest sees with `qemu-img resize`. Growing only adds space at the end; the
 * guest's partitions and file systems still need growing inside.
 *
 * @param path A raw or qcow2 image.
 * @param size The new size (`"20G"`, bytes), or a change: `"+10G"`, `"-1G"`.
 * @param options Whether shrinking is allowed, cancellation and time limit.
 * @returns The new size in bytes.
 * @throws {RangeError} For a bad size, a change by 0 (`"+0"`), or a smaller size without
 *   `{ shrink: true }`.
 * @throws {TypeError} For an image vmkit refuses (another format, or a qcow2 overlay whose
 *   backing format is not recorded).
 * @throws {Deno.errors.NotFound} When the file does not exist, or qemu-img is not installed.
 * @throws {QemuImgError} When qemu-img fails (an image in use by a VM, a qcow2 with snapshots
 *   shrunk); the message gives its words.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.resize("disk.qcow2", "+10G");
 * await image.resize("disk.qcow2", "8G", { shrink: true });
 * ```
 */
export async function resizeImage(
  path: string,
  size: string | number,
  options: ResizeImageOptions = {},
): Promise<number> {
  const what = `Cannot resize "${path}"`;
  const limit = deadline(`resize "${path}"`, options);
  const change = typeof size === "string" ? /^\s*([+-])\s*(.*)$/.exec(size) : null;
  if (change !== null) {
    // "+0" is a size of 0 to parseImageSize; as a change it is one that does nothing.
    const read = binarySize(change[2], 1);
    if ("bytes" in read && read.bytes === 0) {
      throw new RangeError(
        `${what} by ${JSON.stringify(size)}: ${
          change[1] === "+" ? "growing" : "shrinking"
        } by 0 changes nothing; give the size to ${
          change[1] === "+" ? 'add, like "+10G"' : 'take away, like "-1G"'
        }`,
      );
    }
  }
  const amount = parseImageSize(what, change === null ? size : change[2]);
  await requireFile(what, path);
  const format = await checkImageFormat("Cannot resize", path);
  const { virtualSize } = await readInfo(what, path, { format, backingChain: false }, limit);
  const target = change === null
    ? amount
    : change[1] === "+"
    ? virtualSize + amount
    : virtualSize - amount;
  if (!(target > 0)) {
    throw new RangeError(
      `${what} by ${JSON.stringify(size)}: it is ${
        formatSize(virtualSize)
      }, so nothing would be left`,
    );
  }
  if (target < virtualSize && !options.shrink) {
    throw new RangeError(
      `${what} to ${formatSize(target)}: it is ${
        formatSize(virtualSize)
      }, and shrinking drops the guest's data past the new end; pass { shrink: true } to shrink`,
    );
  }
  if (target === virtualSize) return target;
  const args = ["resize", "-q", "-f", format];
  if (target < virtualSize) args.push("--shrink");
  args.push(fileName(path), String(target));
  await runQemuImg({ what, path }, args, limit);
  return target;
}
