/**
 * A binfmt_misc entry as data, and the entry that runs one QEMU target.
 *
 * @module
 */

import { qemuTarget, type QemuTargetName } from "./targets.ts";

/** The flags of an entry. The kernel writes them in this order: `P`, `O`, `C`, `F`. */
export interface BinfmtFlags {
  /** `P`: pass the original `argv[0]` to the interpreter (QEMU 2.11+ understands it). */
  preserveArgv0: boolean;
  /** `O`: the kernel opens the binary and passes the interpreter a file descriptor. */
  openBinary: boolean;
  /**
   * `C`: compute credentials (setuid, file capabilities) from the binary, not the interpreter.
   * Implies `O`. Without it `sudo` inside a foreign chroot fails ("must be owned by uid 0 and
   * have the setuid bit set").
   */
  credential: boolean;
  /**
   * `F`: open the interpreter now and keep it open, so it runs inside containers and chroots
   * that do not have it. Needs a statically linked interpreter.
   */
  persistent: boolean;
}

/** One binfmt_misc entry: what to match and what to run. */
export interface BinfmtEntry {
  /** Entry name: the file under `/proc/sys/fs/binfmt_misc`. */
  name: string;
  /** `M` matches magic bytes, `E` a file-name extension. */
  type: "M" | "E";
  /** Where the magic starts in the file (`M` only). */
  offset: number;
  /** The magic (`M` only). */
  magic: Uint8Array;
  /** The mask, as long as the magic (`M` only). */
  mask: Uint8Array;
  /** The extension without the dot (`E` only). */
  extension?: string;
  /** Absolute path of the interpreter. */
  interpreter: string;
  /** Flags. */
  flags: BinfmtFlags;
}

/** Options of {@linkcode entry}, named as `qemu-binfmt-conf.sh` names them. */
export interface EntryOptions {
  /** Entry name. Default `qemu-<target>`; tests use their own names. */
  name?: string;
  /** Directory of the QEMU binaries. Default `/usr/bin`. */
  qemuPath?: string;
  /** Suffix of the binary name, e.g. `-static` for Debian's qemu-user-static. Default `""`. */
  qemuSuffix?: string;
  /** `C` (and `O`). Default `false`. */
  credential?: boolean;
  /** `F`. Default `false`. */
  persistent?: boolean;
  /** `P`. Default `false`. */
  preserveArgv0?: boolean;
}

/**
 * The entry that makes the kernel run binaries of a QEMU target with `qemu-<target>`.
 *
 * @param target A target of {@linkcode QEMU_TARGETS}, e.g. `"aarch64"`.
 * @param options Name, interpreter location and flags.
 * @returns The entry; nothing is written anywhere.
 * @throws {RangeError} When the target is unknown.
 * @throws {TypeError} When `qemuPath` is not absolute.
 *
 * @example
 * ```ts
 * import { binfmt, registrationString } from "@vmkit/vmkit";
 * const e = binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true });
 * console.log(e.interpreter); // "/usr/bin/qemu-aarch64-static"
 * console.log(registrationString(e).endsWith(":/usr/bin/qemu-aarch64-static:F")); // true
 * ```
 */
export function entry(target: QemuTargetName | string, options: EntryOptions = {}): BinfmtEntry {
  const t = qemuTarget(target);
  const qemuPath = (options.qemuPath ?? "/usr/bin").replace(/(?<=.)\/+$/, "");
  if (!qemuPath.startsWith("/")) {
    throw new TypeError(
      `Cannot make the ${t.name} entry with qemuPath ${
        JSON.stringify(options.qemuPath)
      }: the kernel needs an absolute path`,
    );
  }
  const credential = options.credential ?? false;
  return {
    name: options.name ?? `qemu-${t.name}`,
    type: "M",
    offset: t.offset,
    magic: t.magic.slice(),
    mask: t.mask.slice(),
    interpreter: `${qemuPath === "/" ? "" : qemuPath}/${t.emulator}${options.qemuSuffix ?? ""}`,
    flags: {
      preserveArgv0: options.preserveArgv0 ?? false,
      openBinary: credential,
      credential,
      persistent: options.persistent ?? false,
    },
  };
}

/**
 * The flags as the kernel writes them in an entry file and reads them in a registration string.
 *
 * @param flags The flags.
 * @returns Letters in kernel order, e.g. `"POCF"`.
 */
export function flagLetters(flags: BinfmtFlags): string {
  return (flags.preserveArgv0 ? "P" : "") + (flags.openBinary || flags.credential ? "O" : "") +
    (flags.credential ? "C" : "") + (flags.persistent ? "F" : "");
}
