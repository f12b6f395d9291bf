// Checks of ids, counts and paths shared by the builder and the operations on a running VM.

import { checkValue } from "./qemu_opts.ts";

const ID = /^[A-Za-z][A-Za-z0-9_.-]{0,30}$/;

export function checkId(field: string, id: string): string {
  if (typeof id !== "string" || !ID.test(id) || id.startsWith("vmkit-")) {
    throw new TypeError(
      `Cannot use ${field} id ${
        JSON.stringify(id)
      }: start with a letter, then letters, digits, "_", "." or "-" (up to 31; "vmkit-" is reserved)`,
    );
  }
  return id;
}

export function checkCount(field: string, value: unknown, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 4096) {
    throw new RangeError(
      `Cannot set ${field} to ${
        typeof value === "string" ? JSON.stringify(value) : String(value)
      }: use a whole number from ${min} to 4096`,
    );
  }
  return value;
}

export function checkPath(field: string, path: string): string {
  checkValue(field, path);
  if (path === "") throw new TypeError(`Cannot set ${field} to "": the path is empty`);
  return path;
}

/**
 * Checks that a file the VM will open exists and is not a directory, so the error names it
 * before QEMU does. `what` starts the message: `Cannot launch VM: kernel "PATH"`.
 */
export async function checkInputFile(
  what: string,
  path: string,
  hint?: string,
  expect: "file" | "directory" | "any" = "file",
): Promise<void> {
  const also = hint === undefined ? "" : `; ${hint}`;
  try {
    const isDirectory = (await Deno.stat(path)).isDirectory;
    if (expect === "file" && isDirectory) throw new TypeError(`${what} is a directory${also}`);
    if (expect === "directory" && !isDirectory) {
      throw new TypeError(`${what} is not a directory${also}`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${what} does not exist${also}`);
    }
    throw error;
  }
}

/** The longest path of a unix socket: `sun_path` holds 108 bytes with the final NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** The length in bytes of a unix socket path that is too long for `sun_path`, else undefined. */
export function overlongSocketPath(path: string): number | undefined {
  const bytes = new TextEncoder().encode(path).length;
  return bytes > MAX_SOCKET_PATH_BYTES ? bytes : undefined;
}

/** Checks a unix socket path: a path, and short enough for `sun_path`. */
export function checkSocketPath(field: string, path: string): string {
  checkPath(field, path);
  const bytes = overlongSocketPath(path);
  if (bytes !== undefined) {
    throw new RangeError(
      `Cannot use ${field} "${path}": it is ${bytes} bytes, and a unix socket path holds at most ${MAX_SOCKET_PATH_BYTES}; use a shorter one`,
    );
  }
  return path;
}
