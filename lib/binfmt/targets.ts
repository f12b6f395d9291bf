/**
 * QEMU's user-mode targets as `scripts/qemu-binfmt-conf.sh` knows them: the ELF header bytes
 * (magic and mask) the kernel matches to pick `qemu-<target>`, and the family used to skip the
 * host's own architectures.
 *
 * @module
 */

import { parsePlainHex } from "./_hex.ts";

/** Names of the 34 targets of `qemu-binfmt-conf.sh`. */
export type QemuTargetName =
  | "i386"
  | "i486"
  | "alpha"
  | "arm"
  | "armeb"
  | "sparc"
  | "sparc32plus"
  | "sparc64"
  | "ppc"
  | "ppc64"
  | "ppc64le"
  | "m68k"
  | "mips"
  | "mipsel"
  | "mipsn32"
  | "mipsn32el"
  | "mips64"
  | "mips64el"
  | "sh4"
  | "sh4eb"
  | "s390x"
  | "aarch64"
  | "aarch64_be"
  | "hppa"
  | "riscv32"
  | "riscv64"
  | "xtensa"
  | "xtensaeb"
  | "microblaze"
  | "microblazeel"
  | "or1k"
  | "x86_64"
  | "hexagon"
  | "loongarch64";

/** One user-mode target: what the kernel compares and which emulator runs it. */
export interface QemuTarget {
  /** Target name, as in `qemu-<name>`. */
  readonly name: QemuTargetName;
  /** Architecture family; hosts skip every target of their own family. */
  readonly family: string;
  /** Emulator binary name without path or suffix (`qemu-i386` for `i486`). */
  readonly emulator: string;
  /** Offset of the magic in the file. */
  readonly offset: number;
  /** Bytes the start of the file must have (after masking). */
  readonly magic: Uint8Array;
  /** Mask applied to the file's bytes before comparing; as long as `magic`. */
  readonly mask: Uint8Array;
}

// ELF identification, type and machine fields, written as in qemu-binfmt-conf.sh: each row is
// [name, family, magic, mask] with the bytes in hex.
const ELF32_LE = "7f454c46010101000000000000000000";
const ELF32_BE = "7f454c46010201000000000000000000";
const ELF64_LE = "7f454c46020101000000000000000000";
const ELF64_BE = "7f454c46020201000000000000000000";
const MASK_X86 = "fffffffffffefe00ffffffffffffffff";
const MASK_STD = "ffffffffffffff00ffffffffffffffff";
const MASK_MIPS = "ffffffffffffff0000ffffffffffffff";
const LE_TYPE_MASK = "feffffff";
const BE_TYPE_MASK = "fffeffff";

const ROWS: ReadonlyArray<readonly [QemuTargetName, string, string, string]> = [
  ["i386", "i386", ELF32_LE + "02000300", MASK_X86 + LE_TYPE_MASK],
  ["i486", "i386", ELF32_LE + "02000600", MASK_X86 + LE_TYPE_MASK],
  ["alpha", "alpha", ELF64_LE + "02002690", MASK_X86 + LE_TYPE_MASK],
  ["arm", "arm", ELF32_LE + "02002800", MASK_STD + LE_TYPE_MASK],
  ["armeb", "armeb", ELF32_BE + "00020028", MASK_STD + BE_TYPE_MASK],
  ["sparc", "sparc", ELF32_BE + "00020002", MASK_STD + BE_TYPE_MASK],
  ["sparc32plus", "sparc", ELF32_BE + "00020012", MASK_STD + BE_TYPE_MASK],
  ["sparc64", "sparc", ELF64_BE + "0002002b", MASK_STD + BE_TYPE_MASK],
  ["ppc", "ppc", ELF32_BE + "00020014", MASK_STD + BE_TYPE_MASK],
  ["ppc64", "ppc", ELF64_BE + "00020015", MASK_STD + BE_TYPE_MASK],
  ["ppc64le", "ppcle", ELF64_LE + "02001500", MASK_STD + "feffff00"],
  ["m68k", "m68k", ELF32_BE + "00020004", "fffffffffffffe00ffffffffffffffff" + BE_TYPE_MASK],
  [
    "mips",
    "mips",
    ELF32_BE + "00020008" + "00000001" + "000000000000000000000000" + "00000000",
    MASK_MIPS + "fffeffffffffffff" + "000000000000000000000000" + "00000020",
  ],
  [
    "mipsel",
    "mips",
    ELF32_LE + "02000800" + "01000000" + "000000000000000000000000" + "00000000",
    MASK_MIPS + "feffffffffffffff" + "000000000000000000000000" + "20000000",
  ],
  [
    "mipsn32",
    "mips",
    ELF32_BE + "00020008" + "00000001" + "000000000000000000000000" + "00000020",
    MASK_MIPS + "fffeffffffffffff" + "000000000000000000000000" + "00000020",
  ],
  [
    "mipsn32el",
    "mips",
    ELF32_LE + "02000800" + "01000000" + "000000000000000000000000" + "20000000",
    MASK_MIPS + "feffffffffffffff" + "000000000000000000000000" + "20000000",
  ],
  ["mips64", "mips", ELF64_BE + "00020008", MASK_MIPS + BE_TYPE_MASK],
  ["mips64el", "mips", ELF64_LE + "02000800", MASK_MIPS + LE_TYPE_MASK],
  ["sh4", "sh4", ELF32_LE + "02002a00", MASK_STD + LE_TYPE_MASK],
  ["sh4eb", "sh4", ELF32_BE + "0002002a", MASK_STD + BE_TYPE_MASK],
  ["s390x", "s390x", ELF64_BE + "00020016", MASK_STD + BE_TYPE_MASK],
  ["aarch64", "arm", ELF64_LE + "0200b700", MASK_STD + LE_TYPE_MASK],
  ["aarch64_be", "armeb", ELF64_BE + "000200b7", MASK_STD + BE_TYPE_MASK],
  ["hppa", "hppa", ELF32_BE + "0002000f", MASK_STD + BE_TYPE_MASK],
  ["riscv32", "riscv32", ELF32_LE + "0200f300", MASK_STD + LE_TYPE_MASK],
  ["riscv64", "riscv64", ELF64_LE + "0200f300", MASK_STD + LE_TYPE_MASK],
  ["xtensa", "xtensa", ELF32_LE + "02005e00", MASK_STD + LE_TYPE_MASK],
  ["xtensaeb", "xtensaeb", ELF32_BE + "0002005e", MASK_STD + BE_TYPE_MASK],
  // qemu-binfmt-conf.sh writes this e_type little-endian ("02 00"), which no big-endian binary
  // has; Debian's qemu-user-static and this table use the big-endian "00 02".
  ["microblaze", "microblaze", ELF32_BE + "0002baab", MASK_STD + BE_TYPE_MASK],
  ["microblazeel", "microblazeel", ELF32_LE + "0200abba", MASK_STD + LE_TYPE_MASK],
  ["or1k", "or1k", ELF32_BE + "0002005c", MASK_STD + BE_TYPE_MASK],
  ["x86_64", "i386", ELF64_LE + "02003e00", MASK_X86 + LE_TYPE_MASK],
  ["hexagon", "hexagon", ELF32_LE + "0200a400", MASK_STD + LE_TYPE_MASK],
  [
    "loongarch64",
    "loongarch",
    ELF64_LE + "02000201",
    "fffffffffffffffc00ffffffffffffff" + LE_TYPE_MASK,
  ],
];

/**
 * Every target of `qemu-binfmt-conf.sh`, in its order. All match at offset 0.
 *
 * @example
 * ```ts
 * import { QEMU_TARGETS } from "@vmkit/vmkit";
 * console.log(QEMU_TARGETS.length); // 34
 * ```
 */
export const QEMU_TARGETS: readonly QemuTarget[] = Object.freeze(
  ROWS.map(([name, family, magic, mask]) =>
    Object.freeze({
      name,
      family,
      emulator: name === "i486" ? "qemu-i386" : `qemu-${name}`,
      offset: 0,
      magic: parsePlainHex(magic)!,
      mask: parsePlainHex(mask)!,
    })
  ),
);

const BY_NAME = new Map<string, QemuTarget>(QEMU_TARGETS.map((t) => [t.name, t]));

/**
 * Looks a target up by name.
 *
 * @param name A target name such as `"aarch64"`.
 * @returns The target.
 * @throws {RangeError} When no target has that name; the message lists the known ones.
 *
 * @example
 * ```ts
 * import { qemuTarget } from "@vmkit/vmkit";
 * console.log(qemuTarget("aarch64").family); // "arm"
 * ```
 */
export function qemuTarget(name: string): QemuTarget {
  const target = BY_NAME.get(name);
  if (target === undefined) {
    throw new RangeError(
      `Cannot find QEMU target ${JSON.stringify(name)}: use one of ${
        [...BY_NAME.keys()].join(", ")
      }`,
    );
  }
  return target;
}

/** The QEMU target a host architecture runs natively, and its family. */
export interface HostTarget {
  /** The machine name given (`uname -m`, Debian or Deno spelling). */
  readonly machine: string;
  /** The family of qemu-binfmt-conf.sh's `qemu_get_family`. */
  readonly family: string;
  /** The host's own target, when it is one of the table's. */
  readonly target?: QemuTargetName;
}

const MACHINE_TARGETS: Readonly<Record<string, QemuTargetName>> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  i386: "i386",
  i486: "i486",
  i586: "i386",
  i686: "i386",
  aarch64: "aarch64",
  arm64: "aarch64",
  aarch64_be: "aarch64_be",
  ppc64le: "ppc64le",
  ppc64el: "ppc64le",
  ppc64: "ppc64",
  ppc: "ppc",
  powerpc: "ppc",
  s390x: "s390x",
  riscv64: "riscv64",
  riscv32: "riscv32",
  mips: "mips",
  mipsel: "mipsel",
  mips64: "mips64",
  mips64el: "mips64el",
  loongarch64: "loongarch64",
  armhf: "arm",
  armel: "arm",
  arm: "arm",
  armeb: "armeb",
};

/**
 * Which QEMU target and family a host machine is, as `qemu-binfmt-conf.sh` decides it: every
 * x86 is family `i386`, every little-endian ARM is `arm`, and so on.
 *
 * @param machine `uname -m` of the host (Debian names such as `amd64`, `arm64` also work).
 * @returns The host's family and, when it has one, its own target.
 * @throws {TypeError} When `machine` is empty.
 *
 * @example
 * ```ts
 * import { hostTarget } from "@vmkit/vmkit";
 * console.log(hostTarget("x86_64")); // { machine: "x86_64", family: "i386", target: "x86_64" }
 * console.log(hostTarget("armv7l").family); // "arm"
 * ```
 */
export function hostTarget(machine: string): HostTarget {
  if (machine === "" || /\s/.test(machine)) {
    throw new TypeError(
      `Cannot detect the host's QEMU family from machine ${
        JSON.stringify(machine)
      }: give a uname -m value such as "x86_64"`,
    );
  }
  let family: string;
  if (/^(amd64|i[3-6]86|i86pc|BePC|x86_64)$/.test(machine)) family = "i386";
  else if (/^mips/.test(machine)) family = "mips";
  else if (/^(Power Macintosh|ppc64|powerpc|ppc)$/.test(machine)) family = "ppc";
  else if (/^(ppc64el|ppc64le)$/.test(machine)) family = "ppcle";
  else if (/^(arm|armel|armhf|arm64|armv[4-9].*l|aarch64)$/.test(machine)) family = "arm";
  else if (/^(armeb|armv[4-9].*b|aarch64_be)$/.test(machine)) family = "armeb";
  else if (/^sparc/.test(machine)) family = "sparc";
  else if (/^loongarch/.test(machine)) family = "loongarch";
  else family = BY_NAME.get(machine)?.family ?? machine;
  const target = MACHINE_TARGETS[machine] ??
    (/^armv[4-9].*l$/.test(machine) ? "arm" : /^armv[4-9].*b$/.test(machine) ? "armeb" : undefined);
  return target === undefined ? { machine, family } : { machine, family, target };
}

/** Options of {@linkcode foreignTargets}. */
export interface ForeignTargetsOptions {
  /**
   * Keep the targets of the host's own family, except the host's own target (as
   * `qemu-binfmt-conf.sh --ignore-family`): `i386` on an `x86_64` host, say. Default `false`.
   */
  ignoreFamily?: boolean;
}

/**
 * The targets that need an emulator on a host: every target outside the host's family, so that
 * native binaries of the host's other modes (i386 on x86_64, arm on aarch64) keep running natively.
 *
 * @param machine `uname -m` of the host.
 * @param options Whether to keep the host's family.
 * @returns The targets, in table order.
 *
 * @example
 * ```ts
 * import { foreignTargets } from "@vmkit/vmkit";
 * const names = foreignTargets("x86_64").map((t) => t.name);
 * console.log(names.includes("aarch64"), names.includes("i386")); // true false
 * ```
 */
export function foreignTargets(
  machine: string,
  options: ForeignTargetsOptions = {},
): QemuTarget[] {
  const host = hostTarget(machine);
  return QEMU_TARGETS.filter((t) =>
    options.ignoreFamily ? t.name !== host.target : t.family !== host.family
  );
}
