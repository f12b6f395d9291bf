/**
 * Memory size strings.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  "": 2 ** 20,
  B: 1,
  K: 2 ** 10,
  KB: 2 ** 10,
  KIB: 2 ** 10,
  M: 2 ** 20,
  MB: 2 ** 20,
  MIB: 2 ** 20,
  G: 2 ** 30,
  GB: 2 ** 30,
  GIB: 2 ** 30,
  T: 2 ** 40,
  TB: 2 ** 40,
  TIB: 2 ** 40,
};

/**
 * Parses a memory size as QEMU's `-m` reads it: a number with an optional binary unit (`K`,
 * `M`, `G`, `T`, also `MiB`/`MB`, case-insensitive); a bare number means MiB. The result must be a
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
  const text = String(size).trim();
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text);
  const quoted = typeof size === "string" ? JSON.stringify(size) : String(size);
  if (match === null) {
    throw new RangeError(
      `Cannot set ${field} to ${quoted}: expected a number and a unit, like "256M"`,
    );
  }
  const unit = UNITS[match[2].toUpperCase()];
  if (unit === undefined) {
    throw new RangeError(
      `Cannot set ${field} to ${quoted}: unknown unit "${match[2]}" (use K, M, G or T)`,
    );
  }
  const bytes = Number(match[1]) * unit;
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
