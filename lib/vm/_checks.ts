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
      `Cannot set ${field} to ${String(value)}: use a whole number from ${min} to 4096`,
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
export async function checkInputFile(what: string, path: string): Promise<void> {
  try {
    if ((await Deno.stat(path)).isDirectory) throw new TypeError(`${what} is a directory`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${what} does not exist`);
    }
    throw error;
  }
}
