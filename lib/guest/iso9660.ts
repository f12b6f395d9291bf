/**
 * An ISO 9660 image writer in pure TypeScript, with Rock Ridge and Joliet: what cloud-init seeds
 * and other read-only media for guests are made of, without xorriso or genisoimage.
 *
 * @module
 */

import { type TreeDirectory, type TreeNode, writeImage } from "./_iso9660_layout.ts";
import { componentProblem, JOLIET_NAME_MAX, targetProblem } from "./_iso9660_names.ts";

/** A regular file with its permission bits. */
export interface IsoFile {
  /** The content; a string is written as UTF-8. */
  data: string | Uint8Array;
  /** Permission bits (`0o755` for a script). Default `0o644`. */
  mode?: number;
}

/** A symbolic link (Rock Ridge only: Joliet has no links, so its hierarchy leaves them out). */
export interface IsoSymlink {
  /** What the link points to, stored as written: `"../etc/hosts"`, `"/usr/bin/env"`. */
  symlink: string;
}

/** What a path in {@linkcode IsoImageOptions.files} holds: content (a `0o644` file), or more. */
export type IsoEntry = string | Uint8Array | IsoFile | IsoSymlink;

/** Options of {@linkcode isoImage}. */
export interface IsoImageOptions {
  /**
   * The volume label (what `blkid` shows as `LABEL`): 1 to 32 printable ASCII characters,
   * written as given (`"cidata"`, `"config-2"`; ECMA-119 asks for upper case, which
   * cloud-init's lower-case labels and other writers ignore). Joliet's descriptor holds its
   * first 16 characters.
   */
  volumeId: string;
  /**
   * Files and symbolic links by path (`"openstack/latest/meta_data.json"`; a leading `/` is
   * optional). Directories on the way are made, mode `0o755`. Components are Rock Ridge names:
   * not empty, `.` or `..`, no NUL, at most 255 bytes of UTF-8 (and 64 UTF-16 code units with
   * Joliet). A link target is at most 4095 bytes, without empty components.
   */
  files: Record<string, IsoEntry>;
  /** More directories, for empty ones (mode `0o755`). */
  dirs?: readonly string[];
  /**
   * The one date of the image: volume creation and modification, and every record's time.
   * Default `1970-01-01T00:00:00Z`, so the same files give the same bytes; pass
   * `new Date(Number(Deno.env.get("SOURCE_DATE_EPOCH")) * 1000)` to follow that convention.
   * Between 1900 and 2155 (a record stores the year as 1900 plus one byte). Stored in UTC.
   */
  date?: Date;
  /**
   * Write the Joliet hierarchy (Windows' long names). Default `true`. With it every name must
   * fit Joliet's 64 UTF-16 code units; pass `false` for longer Rock Ridge names.
   */
  joliet?: boolean;
}

/** Largest file one extent holds: its data length field has 32 bits. */
const MAX_FILE_SIZE = 0xffff_ffff;

/** Most permission bits a mode may carry. */
const MODE_BITS = 0o7777;

const encoder = new TextEncoder();

/**
 * Builds an ISO 9660 image in memory.
 *
 * Three namespaces describe the same files:
 *
 * - **Rock Ridge** (RRIP 1.09) keeps the POSIX names (case, `-`, up to 255 bytes of UTF-8),
 *   modes, times and symbolic links, and Linux uses it when it is there: `user-data` reads as
 *   `user-data`, not `user_dat`.
 * - **Joliet** (UCS-2, 64 characters) gives Windows and other readers the long names; the
 *   characters Joliet forbids (`*` `:` `;` `?` `\` and controls) and trailing dots become `_`,
 *   and it has no symbolic links.
 * - **ISO 9660** level 1 names (8.3, upper case) are what readers with neither see.
 *
 * Names that clash once mapped get a number (`LONGFIL1.TXT`, `Readme~1`, Joliet comparing
 * without case as Windows does), chosen in the order of the sorted Rock Ridge names, so the same
 * files always get the same names.
 *
 * Reproducible: the bytes depend only on the options (files in sorted order, the one `date`
 * everywhere, no host or user name, owner root). Directories may nest deeper than ISO 9660's 8
 * levels; Linux, xorriso and isoinfo read them as written (there is no relocation directory).
 * Limits of the readers: Linux 6.1 shows Rock Ridge names up to 253 bytes (a 254- or 255-byte
 * name comes out cut to 250; later kernels read 255) and link targets up to 4095 bytes, xorriso
 * link targets up to 1023 bytes, isoinfo up to about 2000.
 *
 * @param options Volume label, files, directories, date, Joliet.
 * @returns The image, a whole number of 2048-byte sectors.
 * @throws {TypeError} When a path is empty, has an empty, "." or ".." component or NUL, is used
 *   twice or under a file, when an entry is not one of {@linkcode IsoEntry}'s forms, or when a
 *   link's target is empty, has NUL or an empty component.
 * @throws {RangeError} When the label is not 1 to 32 printable ASCII characters, a name is longer
 *   than 255 bytes (or 64 UTF-16 units with Joliet), a file is 4 GiB or more, a mode has more
 *   than permission bits, the date is outside 1900-2155, or there are more than 65535
 *   directories.
 *
 * @example A volume with nested directories, an executable and a link
 * ```ts
 * import { isoImage } from "@vmkit/vmkit";
 * const image: Uint8Array = isoImage({
 *   volumeId: "TOOLS",
 *   files: {
 *     "README.md": "# Tools\n",
 *     "bin/run-me": { data: "#!/bin/sh\necho hi\n", mode: 0o755 },
 *     "bin/latest": { symlink: "run-me" },
 *   },
 *   dirs: ["empty"],
 *   date: new Date("2024-01-01T00:00:00Z"),
 * });
 * console.log(image.length % 2048); // 0: whole sectors, ready for Deno.writeFile
 * ```
 */
export function isoImage(options: IsoImageOptions): Uint8Array {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot build the ISO image: options must be an object");
  }
  const volumeId = checkVolumeId(options.volumeId);
  const date = checkDate(options.date ?? new Date(0));
  const joliet = options.joliet ?? true;
  if (typeof joliet !== "boolean") {
    throw new TypeError(`Cannot build the ISO image: joliet must be a boolean, not ${joliet}`);
  }
  if (typeof options.files !== "object" || options.files === null) {
    throw new TypeError("Cannot build the ISO image: files must be an object of paths");
  }
  const root: TreeDirectory = { kind: "dir", mode: 0o755, children: new Map() };
  for (const [path, entry] of Object.entries(options.files)) {
    const parts = checkPath(path, joliet);
    const node = checkEntry(path, entry);
    const { directory, name } = parentOf(root, path, parts);
    const existing = directory.children.get(name);
    if (existing !== undefined) {
      throw new TypeError(
        `Cannot add "${path}" to the ISO image: "${parts.join("/")}" is ${
          existing.kind === "dir" ? "a directory of other paths" : "given twice"
        }`,
      );
    }
    directory.children.set(name, node);
  }
  for (const path of options.dirs ?? []) {
    const parts = checkPath(path, joliet);
    const { directory, name } = parentOf(root, path, parts);
    const existing = directory.children.get(name);
    if (existing === undefined) {
      directory.children.set(name, { kind: "dir", mode: 0o755, children: new Map() });
    } else if (existing.kind !== "dir") {
      throw new TypeError(
        `Cannot add directory "${path}" to the ISO image: "${parts.join("/")}" is a ${
          existing.kind === "file" ? "file" : "symbolic link"
        }`,
      );
    }
  }
  return writeImage(root, { volumeId, date, joliet });
}

function checkVolumeId(volumeId: unknown): string {
  if (typeof volumeId !== "string") {
    throw new TypeError(`Cannot build the ISO image: volumeId must be a string, not ${volumeId}`);
  }
  if (!/^[\x20-\x7e]{1,32}$/.test(volumeId)) {
    throw new RangeError(
      `Cannot build the ISO image: volume label ${
        JSON.stringify(volumeId)
      } must be 1 to 32 printable ASCII characters`,
    );
  }
  return volumeId;
}

function checkDate(date: unknown): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new TypeError(`Cannot build the ISO image: date must be a valid Date, not ${date}`);
  }
  const year = date.getUTCFullYear();
  if (year < 1900 || year > 2155) {
    throw new RangeError(
      `Cannot build the ISO image: date ${date.toISOString()} is outside 1900-2155, ` +
        "the years a directory record stores",
    );
  }
  return date;
}

function checkPath(path: string, joliet: boolean): string[] {
  if (typeof path !== "string" || path === "" || path === "/") {
    throw new TypeError(`Cannot add ${JSON.stringify(path)} to the ISO image: the path is empty`);
  }
  const parts = (path.startsWith("/") ? path.slice(1) : path).split("/");
  for (const part of parts) {
    const problem = componentProblem(part);
    if (problem !== undefined) {
      const error = problem.includes("Rock Ridge") ? RangeError : TypeError;
      throw new error(`Cannot add ${JSON.stringify(path)} to the ISO image: ${problem}`);
    }
    if (joliet && part.length > JOLIET_NAME_MAX) {
      throw new RangeError(
        `Cannot add ${JSON.stringify(path)} to the ISO image: its component "${
          part.slice(0, 20)
        }..." is ${part.length} UTF-16 code units long, Joliet names hold ${JOLIET_NAME_MAX}; ` +
          "shorten it or pass joliet: false",
      );
    }
  }
  return parts;
}

function checkEntry(path: string, entry: unknown): TreeNode {
  if (typeof entry === "string") return { kind: "file", mode: 0o644, data: encoder.encode(entry) };
  if (entry instanceof Uint8Array) {
    return { kind: "file", mode: 0o644, data: checkSize(path, entry) };
  }
  if (typeof entry === "object" && entry !== null && "symlink" in entry) {
    const problem = targetProblem(entry.symlink as string);
    if (problem !== undefined) {
      throw new TypeError(`Cannot add symbolic link "${path}" to the ISO image: ${problem}`);
    }
    return { kind: "symlink", target: entry.symlink as string };
  }
  if (typeof entry === "object" && entry !== null && "data" in entry) {
    const { data, mode = 0o644 } = entry as IsoFile;
    if (!Number.isInteger(mode) || mode < 0 || mode > MODE_BITS) {
      throw new RangeError(
        `Cannot add "${path}" to the ISO image: mode ${mode} is not permission bits (0 to 0o7777)`,
      );
    }
    if (typeof data === "string") return { kind: "file", mode, data: encoder.encode(data) };
    if (data instanceof Uint8Array) return { kind: "file", mode, data: checkSize(path, data) };
  }
  throw new TypeError(
    `Cannot add "${path}" to the ISO image: its entry must be a string, a Uint8Array, ` +
      "{ data, mode? } or { symlink }",
  );
}

function checkSize(path: string, data: Uint8Array): Uint8Array {
  if (data.length > MAX_FILE_SIZE) {
    throw new RangeError(
      `Cannot add "${path}" to the ISO image: it is ${data.length} bytes, ` +
        `one ISO 9660 extent holds at most ${MAX_FILE_SIZE}`,
    );
  }
  return data;
}

/** The directory a path's last component goes in, made on the way. */
function parentOf(
  root: TreeDirectory,
  path: string,
  parts: string[],
): { directory: TreeDirectory; name: string } {
  let directory = root;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    let child = directory.children.get(part);
    if (child === undefined) {
      child = { kind: "dir", mode: 0o755, children: new Map() };
      directory.children.set(part, child);
    }
    if (child.kind !== "dir") {
      throw new TypeError(
        `Cannot add "${path}" to the ISO image: "${parts.slice(0, i + 1).join("/")}" is a ${
          child.kind === "file" ? "file" : "symbolic link"
        }`,
      );
    }
    directory = child;
  }
  return { directory, name: parts.at(-1)! };
}
