/**
 * Alpine's package index (`APKINDEX`): one block of `X:value` lines per package.
 *
 * @module
 */

/** One package of an APKINDEX. */
export interface ApkIndexEntry {
  /** `P`: package name. */
  name: string;
  /** `V`: version. */
  version: string;
  /** `A`: architecture. */
  arch: string;
  /** `S`: size of the `.apk` file in bytes. */
  size: number;
  /** `C`: checksum of the control part: `Q1` + base64 SHA-1 of the `.apk`'s second gzip member. */
  checksum: string;
  /** Every field, by letter. */
  fields: Record<string, string>;
}

/**
 * Parses the text of an APKINDEX.
 *
 * @param text The `APKINDEX` file's text.
 * @returns The packages, in index order.
 * @throws {TypeError} When a package lacks P, V, A, S or C, or S is not a size.
 *
 * @example
 * ```ts
 * import { emulators } from "@vmkit/vmkit";
 * const [p] = emulators.parseApkIndex("C:Q1abc=\nP:qemu-aarch64\nV:9.0.2-r1\nA:x86_64\nS:4096\n\n");
 * console.log(p.name, p.version, p.size); // "qemu-aarch64" "9.0.2-r1" 4096
 * ```
 */
export function parseApkIndex(text: string): ApkIndexEntry[] {
  const entries: ApkIndexEntry[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const line of block.split("\n")) {
      const match = /^([A-Za-z]):(.*)$/.exec(line);
      if (match !== null) fields[match[1]] = match[2];
    }
    if (Object.keys(fields).length === 0) continue;
    for (const key of ["P", "V", "A", "S", "C"]) {
      if (fields[key] === undefined) {
        throw new TypeError(
          `Cannot parse APKINDEX: the entry of ${
            JSON.stringify(fields.P ?? "?")
          } has no ${key}: field`,
        );
      }
    }
    const size = Number(fields.S);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TypeError(
        `Cannot parse APKINDEX: the entry of ${JSON.stringify(fields.P)} has size ${
          JSON.stringify(fields.S)
        }`,
      );
    }
    entries.push({
      name: fields.P,
      version: fields.V,
      arch: fields.A,
      size,
      checksum: fields.C,
      fields,
    });
  }
  return entries;
}
