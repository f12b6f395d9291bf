/**
 * A writer for the cpio "newc" format (magic `070701`), the format the Linux kernel unpacks as an
 * initramfs.
 *
 * @module
 */

import { concatBytes } from "../_bytes.ts";

/** Ownership, permission and time fields shared by every cpio entry. */
export interface CpioEntryOptions {
  /** Permission bits (`0o755`); the file type bits are set by the writer. */
  mode?: number;
  /** Owner user id. Default 0. */
  uid?: number;
  /** Owner group id. Default 0. */
  gid?: number;
  /** Modification time in seconds since the epoch. Default 0, for reproducible archives. */
  mtime?: number;
}

/** Options of a device node entry. */
export interface CpioDeviceOptions extends CpioEntryOptions {
  /** Character or block device. */
  type: "char" | "block";
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const MAX_FIELD = 0xffff_ffff;
const encoder = new TextEncoder();

function hex8(value: number): string {
  return value.toString(16).padStart(8, "0");
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function checkField(path: string, field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new RangeError(
      `Cannot add cpio entry "${path}": ${field} ${value} is not an integer from 0 to ${MAX_FIELD}`,
    );
  }
}

/** Normalises an archive path: no leading "/" or "./", no empty, "." or ".." components. */
export function normalizeArchivePath(path: string): string {
  if (typeof path !== "string") {
    throw new TypeError(`Cannot add cpio entry ${String(path)}: the path must be a string`);
  }
  if (path.includes("\0")) {
    throw new TypeError(`Cannot add cpio entry ${JSON.stringify(path)}: the path contains NUL`);
  }
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.length === 0) {
    throw new TypeError(`Cannot add cpio entry ${JSON.stringify(path)}: the path names no file`);
  }
  if (parts.includes("..")) {
    throw new TypeError(`Cannot add cpio entry ${JSON.stringify(path)}: ".." is not allowed`);
  }
  return parts.join("/");
}

/**
 * Writes a cpio "newc" archive entry by entry, in the order the entries are added.
 *
 * Inode numbers are assigned from 1 in that order and all times default to 0, so the same calls
 * give the same bytes.
 *
 * @example Write an archive with one directory and one file
 * ```ts
 * import { CpioWriter } from "@vmkit/vmkit";
 * const writer = new CpioWriter()
 *   .directory("etc")
 *   .file("etc/hostname", new TextEncoder().encode("vmkit\n"), { mode: 0o644 });
 * const bytes: Uint8Array = writer.finish();
 * ```
 */
export class CpioWriter {
  #parts: Uint8Array[] = [];
  #length = 0;
  #nextInode = 1;
  #finished = false;

  /**
   * Adds a regular file.
   *
   * @param path Path inside the archive, without a leading "/".
   * @param data The file's content.
   * @param options Mode (default `0o644`), owner and time.
   * @returns This writer.
   * @throws {TypeError} When the path is empty, contains NUL or "..".
   * @throws {RangeError} When a numeric field does not fit in 32 bits.
   */
  file(path: string, data: Uint8Array, options: CpioEntryOptions = {}): this {
    return this.#entry(path, S_IFREG, options.mode ?? 0o644, options, data, 0, 0);
  }

  /**
   * Adds a directory.
   *
   * @param path Path inside the archive.
   * @param options Mode (default `0o755`), owner and time.
   * @returns This writer.
   * @throws {TypeError} When the path is empty, contains NUL or "..".
   */
  directory(path: string, options: CpioEntryOptions = {}): this {
    return this.#entry(path, S_IFDIR, options.mode ?? 0o755, options, new Uint8Array(), 0, 0);
  }

  /**
   * Adds a symbolic link.
   *
   * @param path Path of the link inside the archive.
   * @param target What the link points to, stored as written.
   * @param options Owner and time; the mode is always `0o777`.
   * @returns This writer.
   * @throws {TypeError} When the path is invalid or the target is empty or contains NUL.
   */
  symlink(path: string, target: string, options: CpioEntryOptions = {}): this {
    if (target === "" || target.includes("\0")) {
      throw new TypeError(
        `Cannot add symlink "${path}": target ${JSON.stringify(target)} is empty or contains NUL`,
      );
    }
    return this.#entry(path, S_IFLNK, 0o777, options, encoder.encode(target), 0, 0);
  }

  /**
   * Adds a character or block device node.
   *
   * @param path Path of the node inside the archive.
   * @param options Type, major and minor numbers, mode (default `0o600`), owner and time.
   * @returns This writer.
   * @throws {TypeError} When the path or the type is invalid.
   * @throws {RangeError} When major or minor does not fit in 32 bits.
   */
  device(path: string, options: CpioDeviceOptions): this {
    if (options.type !== "char" && options.type !== "block") {
      throw new TypeError(
        `Cannot add device "${path}": type ${
          JSON.stringify(options.type)
        } is not "char" or "block"`,
      );
    }
    checkField(path, "major", options.major);
    checkField(path, "minor", options.minor);
    const type = options.type === "char" ? S_IFCHR : S_IFBLK;
    return this.#entry(
      path,
      type,
      options.mode ?? 0o600,
      options,
      new Uint8Array(),
      options.major,
      options.minor,
    );
  }

  /**
   * Appends the trailer and returns the whole archive.
   *
   * @returns The archive's bytes.
   * @throws {TypeError} When called twice.
   */
  finish(): Uint8Array {
    this.#header("TRAILER!!!", 0, 0, {}, 0, 0, 0, 0);
    this.#finished = true;
    const out = concatBytes(this.#parts, this.#length);
    this.#parts = [];
    return out;
  }

  #entry(
    rawPath: string,
    type: number,
    mode: number,
    options: CpioEntryOptions,
    data: Uint8Array,
    rdevMajor: number,
    rdevMinor: number,
  ): this {
    const path = normalizeArchivePath(rawPath);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new RangeError(`Cannot add cpio entry "${path}": mode ${mode} is not within 0o7777`);
    }
    for (const field of ["uid", "gid", "mtime"] as const) {
      checkField(path, field, options[field] ?? 0);
    }
    checkField(path, "file size", data.length);
    const nlink = type === S_IFDIR ? 2 : 1;
    this.#header(
      path,
      this.#nextInode++,
      type | mode,
      options,
      nlink,
      data.length,
      rdevMajor,
      rdevMinor,
    );
    this.#push(data);
    this.#push(new Uint8Array(pad4(data.length)));
    return this;
  }

  #header(
    path: string,
    inode: number,
    mode: number,
    options: CpioEntryOptions,
    nlink: number,
    size: number,
    rdevMajor: number,
    rdevMinor: number,
  ): void {
    if (this.#finished) {
      throw new TypeError(`Cannot add cpio entry "${path}": the archive is already finished`);
    }
    const name = encoder.encode(path);
    const fields = [
      inode,
      mode,
      options.uid ?? 0,
      options.gid ?? 0,
      nlink,
      options.mtime ?? 0,
      size,
      0,
      0,
      rdevMajor,
      rdevMinor,
      name.length + 1,
      0,
    ];
    const header = encoder.encode("070701" + fields.map(hex8).join(""));
    this.#push(header);
    this.#push(name);
    this.#push(new Uint8Array(1 + pad4(header.length + name.length + 1)));
  }

  #push(part: Uint8Array): void {
    if (part.length === 0) return;
    this.#parts.push(part);
    this.#length += part.length;
  }
}
