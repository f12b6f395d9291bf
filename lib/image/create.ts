/**
 * Creating a disk image, or an overlay over a base image, with `qemu-img create`.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { pathExists } from "../_fs.ts";
import { checkImageFormat, detectImageFormat, type ImageFormat } from "../vm/image_format.ts";
import { deadline, fileName, runQemuImg } from "./_qemu_img.ts";
import { parseImageSize } from "./_size.ts";

/**
 * How much of an image is allocated when it is made: `off` nothing, `metadata` qcow2's tables,
 * `falloc` the blocks reserved without writing them, `full` every byte written.
 */
export type Preallocation = "off" | "metadata" | "falloc" | "full";

/** Options of {@linkcode createImage}. */
export interface CreateImageOptions extends WaitOptions {
  /** The size the guest sees: bytes, or `"10G"`. Default, for an overlay: its backing file's. */
  size?: string | number;
  /** `"qcow2"` (default) or `"raw"`. */
  format?: ImageFormat;
  /**
   * A base image to make this an overlay of (qcow2 only). As QEMU reads it: a relative name is
   * relative to the overlay's directory, not to the current one.
   */
  backing?: string;
  /**
   * The base image's format, recorded in the overlay (`-F`). Default: read from the file; a
   * given one must match it.
   */
  backingFormat?: ImageFormat;
  /** How much to allocate now. Default `"off"`; raw has no `"metadata"`. */
  preallocation?: Preallocation;
  /** qcow2 cluster size: a power of two from 512 bytes to 2 MiB (`"64K"`, the default). */
  clusterSize?: string | number;
  /** Replace a file that is there. Default `false`: an existing file is refused. */
  overwrite?: boolean;
}

const PREALLOCATIONS: readonly Preallocation[] = ["off", "metadata", "falloc", "full"];
const MAX_CHAIN = 64;

/**
 * Creates an image with `qemu-img create`. An overlay always records its base image's format
 * (`-F`, mandatory since QEMU 6.1), read from the base's header when not given, and a base that
 * would make QEMU guess a format anywhere down its chain (a qcow2 overlay without a recorded
 * backing format) is refused, as are VMDK, VDI and other bases vmkit does not attach.
 *
 * @param path The image to create.
 * @param options Size, format, backing file and its format, preallocation, cluster size,
 *   overwrite, cancellation and time limit.
 * @throws {TypeError} For an option that does not fit the format (a raw overlay, qcow2 options on
 *   raw, preallocation with a backing file), a missing size, or a base image that is refused
 *   (the message says how to fix it with `qemu-img`).
 * @throws {RangeError} For a bad size, cluster size, format or preallocation.
 * @throws {Deno.errors.AlreadyExists} When `path` exists and `overwrite` is not set.
 * @throws {Deno.errors.NotFound} When the backing file does not exist, or qemu-img is not
 *   installed (the message names Debian's `qemu-utils`).
 * @throws {QemuImgError} When qemu-img fails; the message gives its words.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.create("base.qcow2", { size: "10G" });
 * await image.create("vm1.qcow2", { backing: "base.qcow2" }); // records -F qcow2
 * ```
 */
export async function createImage(path: string, options: CreateImageOptions = {}): Promise<void> {
  const what = `Cannot create image "${path}"`;
  const limit = deadline(`create image "${path}"`, options);
  const format = options.format ?? "qcow2";
  if (format !== "qcow2" && format !== "raw") {
    throw new RangeError(
      `${what}: format ${JSON.stringify(format)} is not one vmkit creates; use "qcow2" or "raw"`,
    );
  }
  const createOptions: string[] = [];
  const preallocation = options.preallocation;
  if (preallocation !== undefined) {
    if (!PREALLOCATIONS.includes(preallocation)) {
      throw new RangeError(
        `${what}: preallocation ${JSON.stringify(preallocation)} is not one of ${
          PREALLOCATIONS.map((p) => `"${p}"`).join(", ")
        }`,
      );
    }
    if (format === "raw" && preallocation === "metadata") {
      throw new TypeError(
        `${what}: preallocation "metadata" needs format "qcow2"; a raw image has no metadata (use "falloc" or "full")`,
      );
    }
    if (options.backing !== undefined && preallocation !== "off") {
      throw new TypeError(
        `${what}: preallocation "${preallocation}" and backing file "${options.backing}" cannot be used together (QEMU allows it only with extended L2 entries)`,
      );
    }
    createOptions.push(`preallocation=${preallocation}`);
  }
  if (options.clusterSize !== undefined) {
    if (format !== "qcow2") {
      throw new TypeError(
        `${what}: clusterSize is a qcow2 option; format "${format}" has no clusters`,
      );
    }
    const clusterSize = parseImageSize(what, options.clusterSize, "cluster size");
    if ((clusterSize & (clusterSize - 1)) !== 0 || clusterSize > 2 * 2 ** 20) {
      throw new RangeError(
        `${what}: cluster size ${
          JSON.stringify(options.clusterSize)
        } is not a power of two from 512 bytes to 2 MiB`,
      );
    }
    createOptions.push(`cluster_size=${clusterSize}`);
  }
  const size = options.size === undefined ? undefined : parseImageSize(what, options.size);
  if (options.backing === undefined && size === undefined) {
    throw new TypeError(`${what}: give its size (or a backing file to take the size from)`);
  }
  if (options.backing !== undefined && format !== "qcow2") {
    throw new TypeError(
      `${what}: a raw image cannot have a backing file ("${options.backing}"); use format "qcow2"`,
    );
  }
  const given = options.backingFormat;
  if (given !== undefined && given !== "qcow2" && given !== "raw") {
    throw new RangeError(
      `${what}: backingFormat ${
        JSON.stringify(given)
      } is not one vmkit attaches; use "qcow2" or "raw"`,
    );
  }
  if (options.backingFormat !== undefined && options.backing === undefined) {
    throw new TypeError(
      `${what}: backingFormat "${options.backingFormat}" was given without a backing file`,
    );
  }
  if (!options.overwrite && await pathExists(path)) {
    throw new Deno.errors.AlreadyExists(
      `${what}: the file exists; pass { overwrite: true } to replace it`,
    );
  }

  const args = ["create", "-q", "-f", format];
  if (options.backing !== undefined) {
    const backingFormat = await checkBackingChain(
      what,
      path,
      options.backing,
      options.backingFormat,
    );
    args.push("-b", fileName(options.backing), "-F", backingFormat);
  }
  if (createOptions.length > 0) args.push("-o", createOptions.join(","));
  args.push(fileName(path));
  if (size !== undefined) args.push(String(size));
  await runQemuImg({ what, path }, args, limit);
}

/**
 * Checks every file of the chain under a new overlay at `path` and returns the base's format:
 * the base must exist, match `given`, and no qcow2 below may leave its backing format unrecorded.
 */
async function checkBackingChain(
  what: string,
  path: string,
  backing: string,
  given: ImageFormat | undefined,
): Promise<ImageFormat> {
  let overlay = path;
  let name = backing;
  let baseFormat: ImageFormat | undefined;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const file = besides(overlay, name);
    if (await samePath(file, path)) {
      throw new TypeError(`${what}: it would be its own backing file (through "${name}")`);
    }
    if (!await pathExists(file)) {
      const of = depth === 0 ? "" : ` (the backing file of "${overlay}")`;
      throw new Deno.errors.NotFound(
        `${what}: backing file "${name}"${of} does not exist${
          name.startsWith("/")
            ? ""
            : ` (a relative name is read from "${dirname(overlay)}", as QEMU does)`
        }`,
      );
    }
    const format = await checkImageFormat(
      `${what}: backing file`,
      file,
      depth === 0 ? given : undefined,
    );
    baseFormat ??= format;
    if (format !== "qcow2") return baseFormat;
    const header = await detectImageFormat(file);
    // A recorded raw (or other) format is opened as recorded: nothing below is probed.
    if (header.backing === undefined || header.backing.format !== "qcow2") return baseFormat;
    overlay = file;
    name = header.backing.file;
  }
  throw new TypeError(`${what}: its backing chain is longer than ${MAX_CHAIN} files, or loops`);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/** `name` as QEMU resolves a backing file name of `overlay`: relative to its directory. */
function besides(overlay: string, name: string): string {
  return name.startsWith("/") ? name : `${dirname(overlay)}/${name}`;
}

async function samePath(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
