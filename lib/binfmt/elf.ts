/**
 * What binfmt_misc and vmkit need from an ELF header: which QEMU target a binary is for, and
 * whether it is statically linked.
 *
 * @module
 */

import { QEMU_TARGETS, type QemuTarget } from "./targets.ts";

/** The fields of an ELF header vmkit reads. */
export interface ElfHeader {
  /** 32 or 64 bits. */
  bits: 32 | 64;
  /** Byte order. */
  endian: "little" | "big";
  /** `e_type`: 2 executable, 3 shared object (PIE). */
  type: number;
  /** `e_machine`. */
  machine: number;
  /** `e_flags`. */
  flags: number;
  /** `e_phoff`: where the program headers start. */
  programHeaderOffset: number;
  /** `e_phentsize`. */
  programHeaderSize: number;
  /** `e_phnum`. */
  programHeaderCount: number;
  /** How many bytes from the file's start cover the header and all program headers. */
  headBytes: number;
}

const PT_INTERP = 3;

/**
 * Parses an ELF header.
 *
 * @param bytes The start of the file: at least 52 bytes (32-bit) or 64 bytes (64-bit).
 * @returns The header's fields.
 * @throws {TypeError} When the bytes are not an ELF header.
 *
 * @example
 * ```ts
 * import { parseElfHeader } from "@vmkit/vmkit";
 * const bytes = await Deno.readFile(Deno.execPath());
 * console.log(parseElfHeader(bytes).bits); // 64
 * ```
 */
export function parseElfHeader(bytes: Uint8Array): ElfHeader {
  if (
    bytes.length < 52 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c ||
    bytes[3] !== 0x46
  ) {
    throw new TypeError("Cannot read ELF header: the file does not start with \\x7fELF");
  }
  const bits = bytes[4] === 1 ? 32 : bytes[4] === 2 ? 64 : undefined;
  const endian = bytes[5] === 1 ? "little" : bytes[5] === 2 ? "big" : undefined;
  if (bits === undefined || endian === undefined) {
    throw new TypeError(
      `Cannot read ELF header: class ${bytes[4]} or data encoding ${bytes[5]} is not valid`,
    );
  }
  if (bits === 64 && bytes.length < 64) {
    throw new TypeError("Cannot read ELF header: a 64-bit header needs 64 bytes");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = endian === "little";
  const u16 = (at: number) => view.getUint16(at, le);
  const u32 = (at: number) => view.getUint32(at, le);
  const phoff = bits === 64 ? Number(view.getBigUint64(32, le)) : u32(28);
  const flags = bits === 64 ? u32(48) : u32(36);
  const phentsize = bits === 64 ? u16(54) : u16(42);
  const phnum = bits === 64 ? u16(56) : u16(44);
  return {
    bits,
    endian,
    type: u16(16),
    machine: u16(18),
    flags,
    programHeaderOffset: phoff,
    programHeaderSize: phentsize,
    programHeaderCount: phnum,
    headBytes: Math.max(bits === 64 ? 64 : 52, phoff + phentsize * phnum),
  };
}

/** One program header (segment) of an ELF file. */
export interface ElfSegment {
  /** `p_type`: 1 load, 3 interpreter, 4 note, ... */
  type: number;
  /** `p_offset`: where the segment's bytes start in the file. */
  offset: number;
  /** `p_vaddr`: the address it is mapped at (the address of its first byte in memory). */
  vaddr: number;
  /** `p_filesz`: how many bytes it has in the file. */
  size: number;
}

/**
 * The program headers of an ELF file.
 *
 * @param bytes The file's start, at least {@linkcode ElfHeader.headBytes} long.
 * @returns Every segment, in file order.
 * @throws {TypeError} When the bytes are not ELF or are too short to hold the program headers.
 */
export function elfSegments(bytes: Uint8Array): ElfSegment[] {
  const header = parseElfHeader(bytes);
  if (bytes.length < header.headBytes) {
    throw new TypeError(
      `Cannot read ELF program headers: they end at byte ${header.headBytes}, only ${bytes.length} given`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = header.endian === "little";
  const segments: ElfSegment[] = [];
  for (let i = 0; i < header.programHeaderCount; i++) {
    const at = header.programHeaderOffset + i * header.programHeaderSize;
    segments.push(
      header.bits === 64
        ? {
          type: view.getUint32(at, le),
          offset: Number(view.getBigUint64(at + 8, le)),
          vaddr: Number(view.getBigUint64(at + 16, le)),
          size: Number(view.getBigUint64(at + 32, le)),
        }
        : {
          type: view.getUint32(at, le),
          offset: view.getUint32(at + 4, le),
          vaddr: view.getUint32(at + 8, le),
          size: view.getUint32(at + 16, le),
        },
    );
  }
  return segments;
}

/**
 * Where an ELF file's `PT_INTERP` segment (the dynamic loader's path) is.
 *
 * @param bytes The file's start, at least {@linkcode ElfHeader.headBytes} long.
 * @returns Offset and size of the segment in the file, or `undefined` when there is none.
 * @throws {TypeError} When the bytes are not ELF or are too short to hold the program headers.
 */
export function elfInterpreterRange(
  bytes: Uint8Array,
): { offset: number; size: number } | undefined {
  const segment = elfSegments(bytes).find((s) => s.type === PT_INTERP);
  return segment === undefined ? undefined : { offset: segment.offset, size: segment.size };
}

/**
 * Whether an ELF file asks for a program interpreter (`PT_INTERP`), i.e. is dynamically linked.
 * A binfmt_misc entry with the `F` flag needs an interpreter without one: the kernel opens it
 * once, at registration, and later runs it inside containers and chroots where its dynamic
 * loader and libraries do not exist.
 *
 * @param bytes The file's start: the program headers and the interpreter path must be in it.
 * @returns The interpreter path (`/lib64/ld-linux-x86-64.so.2`), or `undefined` when static.
 * @throws {TypeError} When the bytes are not ELF or too short to hold what is needed.
 *
 * @example
 * ```ts
 * import { elfInterpreter } from "@vmkit/vmkit";
 * const deno = await Deno.readFile(Deno.execPath());
 * console.log(elfInterpreter(deno)); // "/lib64/ld-linux-x86-64.so.2" on a glibc x86_64 host
 * ```
 */
export function elfInterpreter(bytes: Uint8Array): string | undefined {
  const range = elfInterpreterRange(bytes);
  if (range === undefined) return undefined;
  if (range.offset + range.size > bytes.length) {
    throw new TypeError(
      `Cannot read the ELF interpreter path: it ends at byte ${
        range.offset + range.size
      }, only ${bytes.length} given`,
    );
  }
  return new TextDecoder().decode(bytes.subarray(range.offset, range.offset + range.size))
    .replace(/\0+$/, "");
}

/**
 * Whether bytes match a magic and mask the way binfmt_misc compares them: every byte, masked,
 * equals the masked magic.
 *
 * @param bytes The file's start.
 * @param magic The magic.
 * @param mask The mask, as long as the magic.
 * @param offset Where in the file the magic starts.
 * @returns Whether they match.
 */
export function magicMatches(
  bytes: Uint8Array,
  magic: Uint8Array,
  mask: Uint8Array,
  offset = 0,
): boolean {
  if (bytes.length < offset + magic.length) return false;
  for (let i = 0; i < magic.length; i++) {
    if (((bytes[offset + i] ^ magic[i]) & mask[i]) !== 0) return false;
  }
  return true;
}

/**
 * Which QEMU target an ELF binary is for, found with the same masked compare the kernel uses on
 * each entry of {@linkcode QEMU_TARGETS}.
 *
 * @param bytes The file's start (40 bytes are enough for every target).
 * @returns The first matching target, or `undefined` when none matches.
 *
 * @example
 * ```ts
 * import { elfTarget } from "@vmkit/vmkit";
 * const deno = await Deno.readFile(Deno.execPath());
 * console.log(elfTarget(deno)?.name); // "x86_64" on an x86_64 host
 * ```
 */
export function elfTarget(bytes: Uint8Array): QemuTarget | undefined {
  return QEMU_TARGETS.find((t) => magicMatches(bytes, t.magic, t.mask, t.offset));
}
