/**
 * The line written to `/proc/sys/fs/binfmt_misc/register`, with the kernel's limits checked
 * before anything is written.
 *
 * @module
 */

import { type BinfmtEntry, flagLetters } from "./entry.ts";
import { escapedHex } from "./_hex.ts";

/** The kernel reads at most this many bytes of a file to match magic (`BINPRM_BUF_SIZE`, 128 on older kernels). */
export const MAX_MAGIC_END = 128;
/** The longest registration string the kernel accepts. */
export const MAX_REGISTRATION_LENGTH = 1920;

/**
 * Checks an entry against the kernel's rules: a valid name, an absolute interpreter, magic at
 * most 128 bytes ending within the first 128 bytes of the file, a mask as long as the magic,
 * and a registration string of at most 1920 bytes.
 *
 * @param entry The entry.
 * @throws {TypeError} When the name, interpreter or extension has a character the format cannot
 *   carry (`:`, `/` in a name, newline, NUL) or the interpreter is not absolute.
 * @throws {RangeError} When a size limit is exceeded; the message names the limit.
 */
export function validateEntry(entry: BinfmtEntry): void {
  const what = `binfmt_misc entry ${JSON.stringify(entry.name)}`;
  if (entry.name === "" || entry.name === "." || entry.name === "..") {
    throw new TypeError(`Cannot register ${what}: the name must not be empty, "." or ".."`);
  }
  if (/[/:\n\0]/.test(entry.name)) {
    throw new TypeError(
      `Cannot register ${what}: the name must not contain "/", ":", newline or NUL`,
    );
  }
  if (!entry.interpreter.startsWith("/") || /[:\n\0]/.test(entry.interpreter)) {
    throw new TypeError(
      `Cannot register ${what}: interpreter ${
        JSON.stringify(entry.interpreter)
      } must be an absolute path without ":", newline or NUL`,
    );
  }
  if (entry.type === "E") {
    const ext = entry.extension ?? "";
    if (ext === "" || /[/:\n\0]/.test(ext)) {
      throw new TypeError(
        `Cannot register ${what}: extension ${
          JSON.stringify(ext)
        } must be non-empty, without "/", ":", newline or NUL`,
      );
    }
  } else {
    if (!Number.isInteger(entry.offset) || entry.offset < 0) {
      throw new RangeError(
        `Cannot register ${what}: offset ${entry.offset} must be an integer >= 0`,
      );
    }
    if (entry.magic.length === 0) {
      throw new RangeError(`Cannot register ${what}: the magic is empty`);
    }
    if (entry.magic.length > MAX_MAGIC_END) {
      throw new RangeError(
        `Cannot register ${what}: magic is ${entry.magic.length} bytes, the kernel allows at most ${MAX_MAGIC_END}`,
      );
    }
    if (entry.offset + entry.magic.length > MAX_MAGIC_END) {
      throw new RangeError(
        `Cannot register ${what}: offset ${entry.offset} + magic ${entry.magic.length} bytes ends past byte ${MAX_MAGIC_END}, the most the kernel reads`,
      );
    }
    if (entry.mask.length !== entry.magic.length) {
      throw new RangeError(
        `Cannot register ${what}: mask is ${entry.mask.length} bytes but magic is ${entry.magic.length}; they must be the same length`,
      );
    }
  }
  const length = new TextEncoder().encode(format(entry)).length;
  if (length > MAX_REGISTRATION_LENGTH) {
    throw new RangeError(
      `Cannot register ${what}: the registration string is ${length} bytes, the kernel allows at most ${MAX_REGISTRATION_LENGTH}`,
    );
  }
}

function format(entry: BinfmtEntry): string {
  const flags = flagLetters(entry.flags);
  if (entry.type === "E") {
    return `:${entry.name}:E::${entry.extension}::${entry.interpreter}:${flags}`;
  }
  const offset = entry.offset === 0 ? "" : String(entry.offset);
  return `:${entry.name}:M:${offset}:${escapedHex(entry.magic)}:${
    escapedHex(entry.mask)
  }:${entry.interpreter}:${flags}`;
}

/**
 * The kernel's registration format, `:name:type:offset:magic:mask:interpreter:flags`: every
 * magic and mask byte as `\xHH`, an empty offset for 0, flags in kernel order.
 *
 * @param entry The entry.
 * @returns The line to write to `register` (without a newline).
 * @throws {TypeError} When a field has a character the format cannot carry.
 * @throws {RangeError} When a kernel limit is exceeded.
 *
 * @example
 * ```ts
 * import { binfmt, registrationString } from "@vmkit/vmkit";
 * const line = registrationString(binfmt.entry("riscv64", { credential: true }));
 * console.log(line.startsWith(":qemu-riscv64:M::\\x7f\\x45\\x4c\\x46")); // true
 * console.log(line.endsWith(":/usr/bin/qemu-riscv64:OC")); // true
 * ```
 */
export function registrationString(entry: BinfmtEntry): string {
  validateEntry(entry);
  return format(entry);
}
