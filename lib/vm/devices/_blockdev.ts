// One description of a disk's block nodes, written as `-blockdev` JSON at boot and sent as
// `blockdev-add` when hot-adding, so the two cannot drift. The image is always opened by the
// `file` driver with the path as a plain file name: no path can select a protocol (`nbd:`,
// `json:`) or make QEMU open another file, and the format is always given, never probed.

import type { ImageFormat } from "../image_format.ts";

/** Host cache modes, as `-drive cache=` names them. */
export type CacheMode = "none" | "writeback" | "writethrough" | "directsync" | "unsafe";

/** Host I/O engines. */
export type AioMode = "threads" | "native" | "io_uring";

/** A disk's block nodes. */
export interface BlockNodes {
  /** Node name of the format node; the device's `drive=`. */
  id: string;
  file: string;
  format: ImageFormat;
  readOnly?: boolean;
  cache?: CacheMode;
  aio?: AioMode;
  /** Pass the guest's discards to the image (`discard: "unmap"`). */
  discard?: boolean;
  /** Turn written zeroes into zero clusters (`unmap` also frees them, with `discard`). */
  detectZeroes?: DetectZeroes;
}

/** QEMU's `detect-zeroes` modes. */
export type DetectZeroes = "off" | "on" | "unmap";

/** The `cache` options of every node of a mode (QEMU's table for `-drive cache=`). */
function cacheOptions(
  mode: CacheMode | undefined,
): { direct: boolean; "no-flush": boolean } | undefined {
  if (mode === undefined) return undefined;
  return {
    direct: mode === "none" || mode === "directsync",
    "no-flush": mode === "unsafe",
  };
}

/**
 * Whether the guest must see a write-through disk: with `-blockdev`, the writethrough and
 * directsync modes are the device's `write-cache=off`.
 */
export function writeCacheOff(mode: CacheMode | undefined): boolean {
  return mode === "writethrough" || mode === "directsync";
}

/** The `blockdev-add` arguments, which are also the JSON of `-blockdev`. */
export function blockdevOptions(nodes: BlockNodes): {
  driver: ImageFormat;
  "node-name": string;
  "read-only": boolean;
  cache?: { direct: boolean; "no-flush": boolean };
  discard?: "unmap";
  "detect-zeroes"?: DetectZeroes;
  file: {
    driver: "file";
    filename: string;
    "read-only": boolean;
    aio?: AioMode;
    cache?: { direct: boolean; "no-flush": boolean };
    discard?: "unmap";
  };
} {
  const readOnly = nodes.readOnly ?? false;
  const cache = cacheOptions(nodes.cache);
  return {
    driver: nodes.format,
    "node-name": nodes.id,
    "read-only": readOnly,
    ...cache === undefined ? {} : { cache },
    ...nodes.discard ? { discard: "unmap" as const } : {},
    ...nodes.detectZeroes === undefined ? {} : { "detect-zeroes": nodes.detectZeroes },
    file: {
      driver: "file",
      filename: nodes.file,
      "read-only": readOnly,
      ...nodes.aio === undefined ? {} : { aio: nodes.aio },
      ...cache === undefined ? {} : { cache },
      ...nodes.discard ? { discard: "unmap" as const } : {},
    },
  };
}
