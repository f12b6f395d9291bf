/**
 * Checking (and repairing) a qcow2 image's metadata with `qemu-img check`.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { checkImageFormat } from "../vm/image_format.ts";
import { deadline, fileName, requireFile, runQemuImg } from "./_qemu_img.ts";

/** What {@linkcode checkImage} found. */
export interface ImageCheckResult {
  /** The image, as qemu-img names it. */
  filename: string;
  /** Its format. */
  format: string;
  /** No corruptions, leaks or check errors are left. */
  ok: boolean;
  /** Metadata errors that can lose data (clusters used twice, refcounts too low); 0 when none. */
  corruptions: number;
  /** Clusters allocated but unused: wasted space only; 0 when none. */
  leaks: number;
  /** Errors that stopped the check from reading part of the image; 0 when none. */
  checkErrors: number;
  /** Corruptions repaired (with `repair: "all"`). */
  corruptionsFixed: number;
  /** Leaks repaired (with `repair`). */
  leaksFixed: number;
  /** Where the image's data ends in the file, in bytes. */
  imageEndOffset?: number;
  /** Clusters of the virtual disk. */
  totalClusters?: number;
  /** Of those, allocated in this image. */
  allocatedClusters?: number;
  /** Of those, not stored in order. */
  fragmentedClusters?: number;
  /** Of those, compressed. */
  compressedClusters?: number;
  /** qemu-img's description of each problem (`Leaked cluster 5 refcount=1 reference=0`). */
  messages: string[];
}

/** Options of {@linkcode checkImage}. */
export interface CheckImageOptions extends WaitOptions {
  /**
   * Repair what is found (`-r`): `"leaks"` frees leaked clusters (safe), `"all"` also rewrites
   * refcounts of corruptions (back the image up first). Default: only check.
   */
  repair?: "leaks" | "all";
}

/**
 * Checks a qcow2 image's metadata with `qemu-img check --output=json`. Problems found are the
 * result, not an error; an image a VM has open is refused by qemu-img (its lock).
 *
 * @param path A qcow2 image.
 * @param options Whether to repair, cancellation and time limit.
 * @returns Counts of corruptions, leaks and errors (left and repaired), and cluster statistics.
 * @throws {TypeError} For a raw image (it has no metadata to check) or an image vmkit refuses.
 * @throws {RangeError} For an unknown `repair`.
 * @throws {Deno.errors.NotFound} When the file does not exist, or qemu-img is not installed.
 * @throws {QemuImgError} When qemu-img cannot check it (locked, unreadable).
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * const result = await image.check("disk.qcow2");
 * if (result.leaks > 0) await image.check("disk.qcow2", { repair: "leaks" });
 * ```
 */
export async function checkImage(
  path: string,
  options: CheckImageOptions = {},
): Promise<ImageCheckResult> {
  const what = `Cannot check "${path}"`;
  const limit = deadline(`check "${path}"`, options);
  if (options.repair !== undefined && options.repair !== "leaks" && options.repair !== "all") {
    throw new RangeError(
      `${what}: repair ${JSON.stringify(options.repair)} is not "leaks" or "all"`,
    );
  }
  await requireFile(what, path);
  const format = await checkImageFormat("Cannot check", path);
  if (format !== "qcow2") {
    throw new TypeError(
      `${what}: it is a ${format} image, which has no metadata to check; only qcow2 has`,
    );
  }
  const args = ["check", "--output=json", "-f", format];
  if (options.repair !== undefined) args.push("-r", options.repair);
  args.push(fileName(path));
  // 2: corruptions found, 3: leaks found; the JSON is printed either way.
  const { stdout, stderr } = await runQemuImg({ what, path }, args, limit, { okCodes: [2, 3] });
  const json = JSON.parse(stdout) as Record<string, unknown>;
  const count = (name: string): number => typeof json[name] === "number" ? json[name] : 0;
  const result: ImageCheckResult = {
    filename: String(json.filename),
    format: String(json.format),
    ok: false,
    corruptions: count("corruptions"),
    leaks: count("leaks"),
    checkErrors: count("check-errors"),
    corruptionsFixed: count("corruptions-fixed"),
    leaksFixed: count("leaks-fixed"),
    messages: stderr.split("\n").map((line) => line.trim()).filter((line) => line !== ""),
  };
  result.ok = result.corruptions === 0 && result.leaks === 0 && result.checkErrors === 0;
  const optional = [
    ["imageEndOffset", "image-end-offset"],
    ["totalClusters", "total-clusters"],
    ["allocatedClusters", "allocated-clusters"],
    ["fragmentedClusters", "fragmented-clusters"],
    ["compressedClusters", "compressed-clusters"],
  ] as const;
  for (const [field, name] of optional) {
    if (typeof json[name] === "number") result[field] = json[name];
  }
  return result;
}
