/**
 * What `qemu-img info` says about an image, as typed fields.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { type Deadline, deadline, fileName, requireFile, runQemuImg } from "./_qemu_img.ts";

/** An internal snapshot of a qcow2 image (`qemu-img snapshot -l`). */
export interface ImageSnapshot {
  /** QEMU's numeric id, as a string (`"1"`). */
  id: string;
  /** The snapshot's name (QEMU calls it its tag). */
  name: string;
  /** Bytes of VM state (RAM and devices) saved with it; 0 for a disk-only snapshot. */
  vmStateSize: number;
  /** When it was taken. */
  date: Date;
  /** The guest's clock when it was taken, in milliseconds since the VM started. */
  vmClock: number;
}

/** An image's backing file, as its header records it. */
export interface ImageBacking {
  /** The name recorded in the header; a relative name is relative to the overlay's directory. */
  filename: string;
  /** That name resolved as QEMU opens it. */
  fullFilename?: string;
  /** The backing file's format as recorded; absent when it is not, and QEMU would guess it. */
  format?: string;
}

/** One file of an image's backing chain. */
export interface ImageLayer {
  /** The file, as qemu-img names it. */
  filename: string;
  /** Its format (`"qcow2"`, `"raw"`, `"vmdk"`...). */
  format: string;
  /** The size the guest sees, in bytes. */
  virtualSize: number;
  /** Bytes the file takes on the host's disk (absent when qemu-img cannot tell). */
  actualSize?: number;
  /** Whether the image was not closed cleanly (qcow2 with lazy refcounts); `qemu-img check -r` fixes it. */
  dirty: boolean;
  /** Whether the data is encrypted (qcow2 with LUKS, or a LUKS image). */
  encrypted: boolean;
  /** Whether qcow2 has marked the image corrupt (it then opens read-only until repaired). */
  corrupt: boolean;
  /** Cluster size in bytes, for formats that have clusters. */
  clusterSize?: number;
  /** The backing file, for an overlay. */
  backing?: ImageBacking;
  /** Internal snapshots (qcow2). */
  snapshots: ImageSnapshot[];
}

/** What {@linkcode imageInfo} returns: the image's own fields, and its whole backing chain. */
export interface ImageInfo extends ImageLayer {
  /** The image itself first, then its backing file, that file's backing file, and so on. */
  chain: ImageLayer[];
}

/** Options of {@linkcode imageInfo}. */
export interface ImageInfoOptions extends WaitOptions {
  /**
   * The image's format, so qemu-img does not probe it (`-f`). Default: qemu-img reads it from the
   * file.
   */
  format?: string;
  /**
   * Read the backing files too (`--backing-chain`). Default `true`; `false` reads an overlay whose
   * backing file is missing.
   */
  backingChain?: boolean;
}

/**
 * Reads an image with `qemu-img info --output=json --force-share --backing-chain`. `--force-share`
 * lets it read an image a running VM has open.
 *
 * @param path The image file.
 * @param options The format, whether to follow the backing chain, cancellation and time limit.
 * @returns The image's format, sizes, backing file, snapshots and its whole backing chain.
 * @throws {Deno.errors.NotFound} When the file does not exist, or qemu-img is not installed (the
 *   message names Debian's `qemu-utils`).
 * @throws {QemuImgError} When qemu-img cannot open it (a directory, a broken header, a missing
 *   backing file); the message names the path and gives qemu-img's words.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * const info = await image.info("overlay.qcow2");
 * console.log(info.format, info.virtualSize, info.backing?.filename, info.chain.length);
 * ```
 */
export async function imageInfo(path: string, options: ImageInfoOptions = {}): Promise<ImageInfo> {
  const what = `Cannot read image "${path}"`;
  const limit = deadline(`read image "${path}"`, options);
  await requireFile(what, path);
  return await readInfo(what, path, options, limit);
}

/** Runs `qemu-img info` for the operation that `what` and `limit` describe. */
export async function readInfo(
  what: string,
  path: string,
  options: { format?: string; backingChain?: boolean },
  limit: Deadline,
): Promise<ImageInfo> {
  const args = ["info", "--output=json", "--force-share"];
  if (options.backingChain !== false) args.push("--backing-chain");
  if (options.format !== undefined) args.push("-f", options.format);
  args.push(fileName(path));
  const { stdout } = await runQemuImg({ what, path }, args, limit);
  return parseImageInfo(JSON.parse(stdout));
}

/**
 * Types the JSON of `qemu-img info --output=json` (one image, or the array `--backing-chain`
 * gives).
 *
 * @param json The parsed output.
 * @returns The typed fields; `chain` is the array, or the one image.
 * @throws {TypeError} When a field is missing or has the wrong type.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * const info = image.parseImageInfo({
 *   filename: "a.raw",
 *   format: "raw",
 *   "virtual-size": 1048576,
 *   "actual-size": 4096,
 *   "dirty-flag": false,
 * });
 * console.log(info.virtualSize); // 1048576
 * ```
 */
export function parseImageInfo(json: unknown): ImageInfo {
  const list = Array.isArray(json) ? json : [json];
  if (list.length === 0) throw new TypeError("Cannot read qemu-img info: it lists no image");
  const chain = list.map((entry, i) => parseLayer(entry, Array.isArray(json) ? `[${i}]` : ""));
  return { ...chain[0], chain };
}

function parseLayer(value: unknown, where: string): ImageLayer {
  const entry = record(value, where || "the output");
  const at = (name: string) => where === "" ? name : `${where}.${name}`;
  const specific = entry["format-specific"] as { data?: { corrupt?: unknown } } | undefined;
  const layer: ImageLayer = {
    filename: text(entry, "filename", at),
    format: text(entry, "format", at),
    virtualSize: count(entry, "virtual-size", at),
    dirty: entry["dirty-flag"] === true,
    encrypted: entry["encrypted"] === true,
    corrupt: specific?.data?.corrupt === true,
    snapshots: [],
  };
  if (entry["actual-size"] !== undefined) layer.actualSize = count(entry, "actual-size", at);
  if (entry["cluster-size"] !== undefined) layer.clusterSize = count(entry, "cluster-size", at);
  if (entry["backing-filename"] !== undefined) {
    layer.backing = { filename: text(entry, "backing-filename", at) };
    if (entry["full-backing-filename"] !== undefined) {
      layer.backing.fullFilename = text(entry, "full-backing-filename", at);
    }
    if (entry["backing-filename-format"] !== undefined) {
      layer.backing.format = text(entry, "backing-filename-format", at);
    }
  }
  const snapshots = entry["snapshots"] ?? [];
  if (!Array.isArray(snapshots)) {
    throw new TypeError(`Cannot read qemu-img info: ${at("snapshots")} is not a list`);
  }
  layer.snapshots = snapshots.map((value, i) => {
    const snapAt = (name: string) => at(`snapshots[${i}].${name}`);
    const snap = record(value, at(`snapshots[${i}]`));
    return {
      id: text(snap, "id", snapAt),
      name: text(snap, "name", snapAt),
      vmStateSize: count(snap, "vm-state-size", snapAt),
      date: new Date(
        count(snap, "date-sec", snapAt) * 1000 + count(snap, "date-nsec", snapAt) / 1e6,
      ),
      vmClock: count(snap, "vm-clock-sec", snapAt) * 1000 +
        count(snap, "vm-clock-nsec", snapAt) / 1e6,
    };
  });
  return layer;
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot read qemu-img info: ${where} is not an object`);
  }
  return value as Record<string, unknown>;
}

function text(
  from: Record<string, unknown>,
  name: string,
  at: (name: string) => string,
): string {
  const value = from[name];
  if (typeof value !== "string") {
    throw new TypeError(`Cannot read qemu-img info: ${at(name)} is not a string`);
  }
  return value;
}

function count(
  from: Record<string, unknown>,
  name: string,
  at: (name: string) => string,
): number {
  const value = from[name];
  if (typeof value !== "number" || !(value >= 0)) {
    throw new TypeError(`Cannot read qemu-img info: ${at(name)} is not a number`);
  }
  return value;
}
