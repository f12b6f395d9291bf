/**
 * Reading and changing the kernel's binfmt_misc entries: list, status, register, unregister,
 * enable, disable and reset. Every function mounts binfmt_misc first when it is not mounted.
 *
 * @module
 */

import type { BinfmtEntry } from "./entry.ts";
import { type BinfmtStatus, entryDifferences, parseEntryStatus } from "./entry_status.ts";
import { BinfmtConflictError, BinfmtPermissionError } from "./errors.ts";
import { checkInterpreter } from "./interpreter.ts";
import { DEFAULT_MOUNT_POINT, ensureMounted, type MountOptions } from "./mount.ts";
import { registrationString } from "./registration_string.ts";
import { magicMatches } from "./elf.ts";
import { hostTarget, qemuTarget } from "./targets.ts";

/** binfmt_misc as a whole. */
export interface BinfmtMiscStatus {
  /** The mount point. */
  mountPoint: string;
  /** Whether binfmt_misc is enabled (the `status` file). */
  enabled: boolean;
  /** Every entry, sorted by name. */
  entries: BinfmtStatus[];
}

const CONTROL_FILES = new Set(["register", "status"]);

function mountPointOf(options: MountOptions): string {
  return options.mountPoint ?? DEFAULT_MOUNT_POINT;
}

function checkName(name: string, action: string): void {
  if (
    name === "" || /[/\n\0]/.test(name) || CONTROL_FILES.has(name) || name === "." || name === ".."
  ) {
    throw new TypeError(
      `Cannot ${action} binfmt_misc entry ${JSON.stringify(name)}: not a valid entry name`,
    );
  }
}

// Writes one control string to a binfmt_misc file in a single write, as the kernel wants it.
// A missing file stays Deno.errors.NotFound for the caller to explain; every other failure
// becomes an error that says what was being done.
async function writeControl(path: string, text: string, action: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let written: number;
  try {
    using file = await Deno.open(path, { write: true });
    written = await file.write(bytes);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw error;
    if (error instanceof Deno.errors.PermissionDenied) {
      if (!isRoot()) throw new BinfmtPermissionError(action, path, { cause: error });
      throw new Error(
        `Cannot ${action}: the kernel refused it with "permission denied" although this process is root (with the persistent (F) flag, the interpreter must not be on a filesystem mounted noexec)`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AlreadyExists(
        `Cannot ${action}: the kernel already has an entry of that name`,
        { cause: error },
      );
    }
    throw new Error(
      `Cannot ${action}: the kernel refused ${JSON.stringify(text)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (written !== bytes.length) {
    throw new Error(`Cannot ${action}: the kernel took ${written} of ${bytes.length} bytes`);
  }
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false; // not allowed to ask (--allow-sys): assume the usual cause, not being root
  }
}

/**
 * Reads one entry.
 *
 * @param name The entry's name.
 * @param options The mount point.
 * @returns The entry, or `undefined` when there is none of that name.
 * @throws {TypeError} When the name is not a valid entry name.
 */
export async function get(
  name: string,
  options: MountOptions = {},
): Promise<BinfmtStatus | undefined> {
  checkName(name, "read");
  await ensureMounted(options);
  try {
    return parseEntryStatus(name, await Deno.readTextFile(`${mountPointOf(options)}/${name}`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Every registered entry, parsed (magic entries and extension entries).
 *
 * @param options The mount point.
 * @returns The entries, sorted by name.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * for (const e of await binfmt.list()) console.log(e.name, e.enabled, e.interpreter);
 * ```
 */
export async function list(options: MountOptions = {}): Promise<BinfmtStatus[]> {
  await ensureMounted(options);
  const mountPoint = mountPointOf(options);
  const names: string[] = [];
  for await (const item of Deno.readDir(mountPoint)) {
    if (!CONTROL_FILES.has(item.name)) names.push(item.name);
  }
  const entries: BinfmtStatus[] = [];
  for (const name of names.sort()) {
    try {
      entries.push(parseEntryStatus(name, await Deno.readTextFile(`${mountPoint}/${name}`)));
    } catch (error) {
      // Removed between readDir and the read: it is no longer an entry.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return entries;
}

/**
 * Whether binfmt_misc is enabled, and every entry.
 *
 * @param options The mount point.
 * @returns The status.
 */
export async function status(options: MountOptions = {}): Promise<BinfmtMiscStatus> {
  await ensureMounted(options);
  const mountPoint = mountPointOf(options);
  const text = (await Deno.readTextFile(`${mountPoint}/status`)).trim();
  return { mountPoint, enabled: text === "enabled", entries: await list(options) };
}

/** Options of {@linkcode register}. */
export interface RegisterOptions extends MountOptions {
  /**
   * `uname -m` of this host. An entry that matches the host's own binaries is refused: the
   * kernel would hand every native program to the interpreter. Default `Deno.build.arch`.
   */
  hostArch?: string;
  /**
   * Replace a different entry of the same name: unregister it, register the new one, and put
   * the old one back if that fails. Default `false`: a different entry is an error.
   */
  replace?: boolean;
}

/** What {@linkcode register} did. */
export type RegisterOutcome = "registered" | "unchanged" | "enabled" | "replaced";

/**
 * Registers an entry. Idempotent: an identical entry already registered is left alone (and
 * enabled if it was disabled). Before writing, the interpreter is checked (it exists, is
 * executable, and is static when the entry is persistent).
 *
 * @param entry The entry, e.g. from {@linkcode entry}.
 * @param options Whether to replace a different entry of the same name; the mount point.
 * @returns What was done.
 * @throws {TypeError} When the entry breaks the registration format or its interpreter is
 *   unusable.
 * @throws {RangeError} When it breaks a kernel limit, or matches the host's own binaries.
 * @throws {BinfmtConflictError} When a different entry has the name and `replace` is not set.
 * @throws {BinfmtPermissionError} When not running as root.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * const e = binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true });
 * console.log(await binfmt.register(e)); // "registered", then "unchanged"
 * ```
 */
export async function register(
  entry: BinfmtEntry,
  options: RegisterOptions = {},
): Promise<RegisterOutcome> {
  const line = registrationString(entry);
  const host = hostTarget(options.hostArch ?? Deno.build.arch);
  if (host.target !== undefined && entry.type === "M") {
    const native = qemuTarget(host.target);
    if (magicMatches(native.magic, entry.magic, entry.mask, entry.offset)) {
      throw new RangeError(
        `Cannot register binfmt_misc entry "${entry.name}": it matches this host's own ${host.target} binaries, so the kernel would hand every native program to ${entry.interpreter}`,
      );
    }
  }
  const existing = await get(entry.name, options);
  if (existing !== undefined) {
    const differences = entryDifferences(existing, entry);
    if (differences.length === 0) {
      if (existing.enabled) return "unchanged";
      await enable(entry.name, options);
      return "enabled";
    }
    if (!options.replace) throw new BinfmtConflictError(existing, entry, differences);
  }
  await checkInterpreter(entry);
  const registerPath = `${mountPointOf(options)}/register`;
  const action = `register binfmt_misc entry "${entry.name}"`;
  if (existing === undefined) {
    await writeKernelRegistration(registerPath, line, action);
    return "registered";
  }
  await unregister(entry.name, options);
  try {
    await writeKernelRegistration(registerPath, line, action);
  } catch (error) {
    try {
      await writeKernelRegistration(registerPath, registrationString(existing), action);
      if (!existing.enabled) await disable(existing.name, options);
    } catch (restoreError) {
      throw new AggregateError(
        [error, restoreError],
        `Cannot replace binfmt_misc entry "${entry.name}": registering the new entry failed and the old one could not be restored`,
      );
    }
    throw error;
  }
  return "replaced";
}

async function writeKernelRegistration(path: string, line: string, action: string) {
  try {
    await writeControl(path, line, action);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Deno.errors.NotFound(
      `Cannot ${action}: the kernel answered "not found" (is binfmt_misc still mounted, and does the interpreter exist?)`,
      { cause: error },
    );
  }
}

/**
 * Removes an entry.
 *
 * @param name The entry's name.
 * @param options The mount point.
 * @returns `true` when it was removed, `false` when there was no such entry.
 * @throws {BinfmtPermissionError} When not running as root.
 */
export async function unregister(name: string, options: MountOptions = {}): Promise<boolean> {
  checkName(name, "unregister");
  await ensureMounted(options);
  try {
    await writeControl(
      `${mountPointOf(options)}/${name}`,
      "-1",
      `unregister binfmt_misc entry "${name}"`,
    );
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function setEnabled(name: string, on: boolean, options: MountOptions): Promise<void> {
  const action = `${on ? "enable" : "disable"} binfmt_misc entry "${name}"`;
  checkName(name, on ? "enable" : "disable");
  await ensureMounted(options);
  try {
    await writeControl(`${mountPointOf(options)}/${name}`, on ? "1" : "0", action);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot ${action}: there is no such entry`, { cause: error });
    }
    throw error;
  }
}

/**
 * Enables an entry.
 *
 * @param name The entry's name.
 * @param options The mount point.
 * @throws {Deno.errors.NotFound} When there is no such entry.
 * @throws {BinfmtPermissionError} When not running as root.
 */
export async function enable(name: string, options: MountOptions = {}): Promise<void> {
  await setEnabled(name, true, options);
}

/**
 * Disables an entry: it stays registered but matches nothing.
 *
 * @param name The entry's name.
 * @param options The mount point.
 * @throws {Deno.errors.NotFound} When there is no such entry.
 * @throws {BinfmtPermissionError} When not running as root.
 */
export async function disable(name: string, options: MountOptions = {}): Promise<void> {
  await setEnabled(name, false, options);
}

/** Options of {@linkcode reset}. */
export interface ResetOptions extends MountOptions {
  /** Only entries whose name starts with this are removed. Default `"qemu-"`. */
  prefix?: string;
}

/**
 * Removes every entry whose name starts with a prefix, as `qemu-user-static --reset` does for
 * `qemu-*`. Other entries (Java, Wine, ...) are left alone.
 *
 * @param options The prefix (default `"qemu-"`) and the mount point.
 * @returns The names removed.
 * @throws {TypeError} When the prefix is empty (that would remove every entry).
 * @throws {BinfmtPermissionError} When not running as root.
 */
export async function reset(options: ResetOptions = {}): Promise<string[]> {
  const prefix = options.prefix ?? "qemu-";
  if (prefix === "") {
    throw new TypeError(
      'Cannot reset binfmt_misc entries with an empty prefix: that would remove every entry; name a prefix such as "qemu-"',
    );
  }
  const removed: string[] = [];
  for (const e of await list(options)) {
    if (e.name.startsWith(prefix) && await unregister(e.name, options)) removed.push(e.name);
  }
  return removed;
}
