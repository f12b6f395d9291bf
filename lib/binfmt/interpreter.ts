/**
 * Checks that an entry's interpreter can do its job before the entry is registered.
 *
 * @module
 */

import { readHead } from "./_read_head.ts";
import { elfInterpreter } from "./elf.ts";
import type { BinfmtEntry } from "./entry.ts";

/**
 * Checks an entry's interpreter: it exists, is a regular executable file, and — when the entry
 * has the persistent (`F`) flag — is a statically linked ELF binary.
 *
 * @param entry The entry.
 * @throws {Deno.errors.NotFound} When the interpreter does not exist.
 * @throws {TypeError} When it is not an executable file, or `F` is asked for with a dynamically
 *   linked (or non-ELF) interpreter; the message says why `F` needs a static binary.
 *
 * @example
 * ```ts
 * import { binfmt, checkInterpreter } from "@vmkit/vmkit";
 * await checkInterpreter(binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true }));
 * ```
 */
export async function checkInterpreter(entry: BinfmtEntry): Promise<void> {
  const what = `binfmt_misc entry "${entry.name}"`;
  const path = entry.interpreter;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot register ${what}: interpreter ${path} does not exist (Debian's qemu-user-static installs /usr/bin/qemu-<target>-static: use qemuSuffix "-static"; or download one with vmkit's emulators.fetch)`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!info.isFile || info.mode === null || (info.mode & 0o111) === 0) {
    throw new TypeError(
      `Cannot register ${what}: interpreter ${path} is not an executable file (mode ${
        info.mode === null ? "unknown" : (info.mode & 0o7777).toString(8).padStart(4, "0")
      })`,
    );
  }
  if (!entry.flags.persistent) return;
  let loader: string | undefined;
  try {
    loader = elfInterpreter(await readHead(path));
  } catch (error) {
    throw new TypeError(
      `Cannot register ${what} with the persistent (F) flag: interpreter ${path} is not an ELF binary vmkit can check for static linking`,
      { cause: error },
    );
  }
  if (loader !== undefined) {
    throw new TypeError(
      `Cannot register ${what} with the persistent (F) flag: interpreter ${path} is dynamically linked (it needs ${loader}). With F the kernel opens the interpreter once, now, and later starts it inside containers and chroots where that loader and its libraries do not exist, so every foreign binary would fail with "No such file or directory". Use a static build (Debian's qemu-user-static: qemuSuffix "-static") or register without persistent`,
    );
  }
}
