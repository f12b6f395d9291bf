// Image sizes as qemu-img reads them: bytes, or a number with a binary unit.

import { binarySize } from "../_size.ts";

/**
 * Bytes from a size: a number of bytes, or a string such as `"10G"`, `"1.5G"`, `"512M"` or
 * `"1048576"` (units are powers of 1024, case-insensitive; no unit means bytes, as qemu-img
 * reads it). The size must be more than 0 and a whole number of 512-byte sectors, which qemu-img
 * would otherwise round up without a word.
 *
 * @param what Leads the messages: `Cannot create image "x.qcow2"`.
 * @param field What the size is, in the messages.
 */
export function parseImageSize(what: string, size: string | number, field = "size"): number {
  const quoted = typeof size === "string" ? JSON.stringify(size) : String(size);
  let bytes: number;
  if (typeof size === "number") {
    bytes = size;
  } else if (typeof size === "string") {
    const read = binarySize(size, 1);
    if ("error" in read && read.error === "syntax") {
      throw new RangeError(
        `${what}: ${field} ${quoted} is not a size; use a number of bytes or a number and a unit, like "10G"`,
      );
    }
    if ("error" in read) {
      throw new RangeError(
        `${what}: ${field} ${quoted} has an unknown unit "${read.unit}"; use K, M, G, T or P (powers of 1024), or no unit for bytes`,
      );
    }
    bytes = read.bytes;
  } else {
    throw new TypeError(
      `${what}: ${field} ${quoted} is not a size; use a number of bytes or "10G"`,
    );
  }
  if (!Number.isInteger(bytes)) {
    throw new RangeError(`${what}: ${field} ${quoted} is not a whole number of bytes`);
  }
  if (!(bytes > 0)) throw new RangeError(`${what}: ${field} ${quoted} must be more than 0`);
  if (!Number.isSafeInteger(bytes)) {
    throw new RangeError(`${what}: ${field} ${quoted} is too large`);
  }
  if (bytes % 512 !== 0) {
    throw new RangeError(
      `${what}: ${field} ${quoted} is not a whole number of 512-byte sectors (${bytes} bytes)`,
    );
  }
  return bytes;
}

/** A size for messages: `"10 GiB"`, `"1.5 MiB"`, `"1000 bytes"`. */
export function formatSize(bytes: number): string {
  for (
    const [unit, factor] of [["PiB", 2 ** 50], ["TiB", 2 ** 40], ["GiB", 2 ** 30], [
      "MiB",
      2 ** 20,
    ], ["KiB", 2 ** 10]] as const
  ) {
    if (bytes >= factor) {
      const value = bytes / factor;
      return `${Number.isInteger(value) ? value : Number(value.toFixed(2))} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}
