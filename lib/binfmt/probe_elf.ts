/**
 * Tiny static ELF executables, one per common QEMU target, that only call `exit(42)`. Running
 * one through the kernel proves that a binfmt_misc entry and its emulator work.
 *
 * @module
 */

import type { QemuTargetName } from "./targets.ts";

/** The exit code every probe exits with. */
export const PROBE_EXIT_CODE = 42;

interface ProbeSpec {
  bits: 32 | 64;
  endian: "little" | "big";
  machine: number;
  flags: number;
  /** Instruction words (`width` bytes each, in the target's byte order). */
  code: readonly number[];
  width: 1 | 2 | 4;
}

// Each program: put 42 in the first argument register, the exit syscall number where the
// ABI wants it, and trap into the kernel.
const SPECS: Partial<Record<QemuTargetName, ProbeSpec>> = {
  x86_64: {
    bits: 64,
    endian: "little",
    machine: 0x3e,
    flags: 0,
    width: 1,
    // mov edi, 42; mov eax, 60; syscall
    code: [0xbf, 42, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05],
  },
  i386: {
    bits: 32,
    endian: "little",
    machine: 3,
    flags: 0,
    width: 1,
    // mov ebx, 42; mov eax, 1; int 0x80
    code: [0xbb, 42, 0, 0, 0, 0xb8, 1, 0, 0, 0, 0xcd, 0x80],
  },
  aarch64: {
    bits: 64,
    endian: "little",
    machine: 0xb7,
    flags: 0,
    width: 4,
    code: [0xd2800540, 0xd2800ba8, 0xd4000001], // mov x0, #42; mov x8, #93; svc #0
  },
  arm: {
    bits: 32,
    endian: "little",
    machine: 0x28,
    flags: 0x05000000, // EABI version 5
    width: 4,
    code: [0xe3a0002a, 0xe3a07001, 0xef000000], // mov r0, #42; mov r7, #1; svc #0
  },
  ppc64le: {
    bits: 64,
    endian: "little",
    machine: 0x15,
    flags: 2, // ELFv2 ABI
    width: 4,
    code: [0x3860002a, 0x38000001, 0x44000002], // li r3, 42; li r0, 1; sc
  },
  ppc: {
    bits: 32,
    endian: "big",
    machine: 0x14,
    flags: 0,
    width: 4,
    code: [0x3860002a, 0x38000001, 0x44000002], // li r3, 42; li r0, 1; sc
  },
  s390x: {
    bits: 64,
    endian: "big",
    machine: 0x16,
    flags: 0,
    width: 2,
    code: [0xa729, 0x002a, 0x0a01], // lghi %r2, 42; svc 1
  },
  riscv64: {
    bits: 64,
    endian: "little",
    machine: 0xf3,
    flags: 0,
    width: 4,
    code: [0x02a00513, 0x05d00893, 0x00000073], // li a0, 42; li a7, 93; ecall
  },
  riscv32: {
    bits: 32,
    endian: "little",
    machine: 0xf3,
    flags: 0,
    width: 4,
    code: [0x02a00513, 0x05d00893, 0x00000073], // li a0, 42; li a7, 93; ecall
  },
  mips: {
    bits: 32,
    endian: "big",
    machine: 8,
    flags: 0x70001000, // MIPS32r2, o32
    width: 4,
    code: [0x2404002a, 0x24020fa1, 0x0000000c], // li a0, 42; li v0, 4001; syscall
  },
  mipsel: {
    bits: 32,
    endian: "little",
    machine: 8,
    flags: 0x70001000,
    width: 4,
    code: [0x2404002a, 0x24020fa1, 0x0000000c],
  },
  mips64: {
    bits: 64,
    endian: "big",
    machine: 8,
    flags: 0x80000000, // MIPS64r2, n64
    width: 4,
    code: [0x6404002a, 0x640213c2, 0x0000000c], // daddiu a0, 42; daddiu v0, 5058; syscall
  },
  mips64el: {
    bits: 64,
    endian: "little",
    machine: 8,
    flags: 0x80000000,
    width: 4,
    code: [0x6404002a, 0x640213c2, 0x0000000c],
  },
  loongarch64: {
    bits: 64,
    endian: "little",
    machine: 0x102,
    flags: 0x43, // double-float ABI, object ABI v1
    width: 4,
    code: [0x0280a804, 0x0281740b, 0x002b0000], // li.w a0, 42; li.w a7, 93; syscall 0
  },
};

/** Targets {@linkcode probeElf} has a probe for. */
export const PROBE_TARGETS: readonly QemuTargetName[] = Object.freeze(
  Object.keys(SPECS) as QemuTargetName[],
);

/**
 * A minimal static executable for a target that exits with {@linkcode PROBE_EXIT_CODE}: an ELF
 * header, one loadable segment, a few instructions.
 *
 * @param target A target of {@linkcode PROBE_TARGETS}.
 * @returns The file's bytes, or `undefined` when vmkit has no probe for the target.
 *
 * @example
 * ```ts
 * import { elfTarget, probeElf } from "@vmkit/vmkit";
 * console.log(elfTarget(probeElf("riscv64")!)?.name); // "riscv64"
 * ```
 */
export function probeElf(target: QemuTargetName): Uint8Array | undefined {
  const spec = SPECS[target];
  if (spec === undefined) return undefined;
  const le = spec.endian === "little";
  const is64 = spec.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phsize = is64 ? 56 : 32;
  const codeOffset = ehsize + phsize;
  const size = codeOffset + spec.code.length * spec.width;
  const base = 0x400000;
  const bytes = new Uint8Array(size);
  const v = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1]);
  v.setUint16(16, 2, le); // ET_EXEC
  v.setUint16(18, spec.machine, le);
  v.setUint32(20, 1, le); // EV_CURRENT
  if (is64) {
    v.setBigUint64(24, BigInt(base + codeOffset), le); // e_entry
    v.setBigUint64(32, BigInt(ehsize), le); // e_phoff
    v.setUint32(48, spec.flags, le);
    v.setUint16(52, ehsize, le);
    v.setUint16(54, phsize, le);
    v.setUint16(56, 1, le); // e_phnum
    const ph = ehsize;
    v.setUint32(ph, 1, le); // PT_LOAD
    v.setUint32(ph + 4, 5, le); // R + X
    v.setBigUint64(ph + 16, BigInt(base), le); // p_vaddr
    v.setBigUint64(ph + 24, BigInt(base), le); // p_paddr
    v.setBigUint64(ph + 32, BigInt(size), le); // p_filesz
    v.setBigUint64(ph + 40, BigInt(size), le); // p_memsz
    v.setBigUint64(ph + 48, 0x10000n, le); // p_align
  } else {
    v.setUint32(24, base + codeOffset, le);
    v.setUint32(28, ehsize, le);
    v.setUint32(36, spec.flags, le);
    v.setUint16(40, ehsize, le);
    v.setUint16(42, phsize, le);
    v.setUint16(44, 1, le);
    const ph = ehsize;
    v.setUint32(ph, 1, le);
    v.setUint32(ph + 8, base, le);
    v.setUint32(ph + 12, base, le);
    v.setUint32(ph + 16, size, le);
    v.setUint32(ph + 20, size, le);
    v.setUint32(ph + 24, 5, le);
    v.setUint32(ph + 28, 0x10000, le);
  }
  spec.code.forEach((word, i) => {
    const at = codeOffset + i * spec.width;
    if (spec.width === 1) v.setUint8(at, word);
    else if (spec.width === 2) v.setUint16(at, word, le);
    else v.setUint32(at, word, le);
  });
  return bytes;
}
