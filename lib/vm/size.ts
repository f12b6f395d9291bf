/**
 * Memory size strings.
 *
 * @module
 */

import { binarySize } from "../_size.ts";

/** The units of memory sizes: up to T, as QEMU's `-m` reads them. */
const MEMORY_UNITS = "B K KB KIB KI M MB MIB MI G GB GIB GI T TB TIB TI".split(" ");

/**
 * Parses a memory size as QEMU's `-m` reads it: a number with an optional binary unit (`K`,
 * `M`, `G`, `T`, also `MiB`/`MB`/`Mi`, case-insensitive); a bare number means MiB. The result must be a
 * positive whole number of MiB.
 *
 * @param field What the size is for, named in errors (`"memory"`).
 * @param size Such as `"256M"`, `"1.5G"` or `512`.
 * @returns The size in bytes.
 * @throws {RangeError} For an unknown unit, zero, a negative size, or a size that is not a whole
 *   number of MiB.
 *
 * @example
 * ```ts
 * import { parseSize } from "@vmkit/vmkit";
 * console.log(parseSize("memory", "1.5G")); // 1610612736
 * ```
 */
export function parseSize(field: string, size: string | number): number {
  const read = binarySize(String(size), 2 ** 20, MEMORY_UNITS);
  const quoted = typeof size === "string" ? JSON.stringify(size) : String(size);
  if ("error" in read && read.error === "syntax") {
    throw new RangeError(
      `Cannot set ${field} to ${quoted}: expected a number and a unit, like "256M"`,
    );
  }
  if ("error" in read) {
    throw new RangeError(
      `Cannot set ${field} to ${quoted}: unknown unit "${read.unit}" (use K, M, G or T)`,
    );
  }
  const bytes = read.bytes;
  if (!(bytes > 0)) {
    throw new RangeError(`Cannot set ${field} to ${quoted}: it must be more than 0`);
  }
  if (bytes % 2 ** 20 !== 0) {
    throw new RangeError(`Cannot set ${field} to ${quoted}: it must be a whole number of MiB`);
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new RangeError(`Cannot set ${field} to ${quoted}: too large`);
  }
  return bytes;
}
