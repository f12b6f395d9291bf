/**
 * The uncompressed kernel inside an x86 `bzImage`. QEMU boots such an ELF `vmlinux` through its
 * PVH entry point, which skips the firmware's real-mode setup and the kernel's own
 * decompression: under TCG that is about 0.25 s of a 2 s boot.
 *
 * @module
 */

import { type ElfSegment, elfSegments, parseElfHeader } from "../binfmt/elf.ts";
import { gunzipMember } from "../emulators/gzip_members.ts";

const LZ4_LEGACY_MAGIC = 0x184c2102;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

/**
 * Decompresses LZ4's legacy frame format (`lz4 -l`), which the kernel's build uses for
 * `CONFIG_KERNEL_LZ4`.
 *
 * @param input The frame: magic, then blocks of a 32-bit little-endian size and LZ4 data;
 *   bytes after the last whole block (the kernel appends the decompressed size) are ignored.
 * @param size The decompressed size, when known; it sizes the output.
 * @returns The decompressed bytes.
 * @throws {TypeError} When the input is not a legacy LZ4 frame or a block is corrupt.
 */
export function lz4LegacyDecompress(input: Uint8Array, size?: number): Uint8Array {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length < 4 || view.getUint32(0, true) !== LZ4_LEGACY_MAGIC) {
    throw new TypeError("Cannot decompress LZ4: the input is not a legacy LZ4 frame");
  }
  let out = new Uint8Array(size ?? input.length * 4);
  let o = 0;
  let at = 4;
  const grow = (needed: number) => {
    if (needed <= out.length) return;
    const bigger = new Uint8Array(Math.max(needed, out.length * 2));
    bigger.set(out.subarray(0, o));
    out = bigger;
  };
  while (at + 4 <= input.length) {
    const blockSize = view.getUint32(at, true);
    if (blockSize === LZ4_LEGACY_MAGIC) {
      at += 4;
      continue;
    }
    if (at + 4 + blockSize > input.length) break; // trailing bytes: the appended size
    let i = at + 4;
    const end = i + blockSize;
    while (i < end) {
      const token = input[i++];
      let literals = token >> 4;
      if (literals === 15) {
        let b: number;
        do {
          b = input[i++];
          literals += b;
        } while (b === 255 && i < end);
      }
      if (i + literals > end) {
        throw new TypeError("Cannot decompress LZ4: a literal run overruns its block");
      }
      grow(o + literals);
      out.set(input.subarray(i, i + literals), o);
      o += literals;
      i += literals;
      if (i >= end) break; // the last sequence has literals only
      const offset = input[i] | (input[i + 1] << 8);
      i += 2;
      if (offset === 0 || offset > o) {
        throw new TypeError("Cannot decompress LZ4: a match points before the output");
      }
      let length = (token & 15) + 4;
      if ((token & 15) === 15) {
        let b: number;
        do {
          b = input[i++];
          length += b;
        } while (b === 255 && i < end);
      }
      grow(o + length);
      let from = o - offset;
      if (offset >= length) {
        out.copyWithin(o, from, from + length);
        o += length;
      } else {
        for (let k = 0; k < length; k++) out[o++] = out[from++];
      }
    }
    at = end;
  }
  return out.subarray(0, o);
}

/**
 * Whether an ELF kernel has a PVH entry point (a Xen `PHYS32_ENTRY` note), so that QEMU's
 * `-kernel` boots it directly.
 *
 * @param elf The kernel's bytes.
 * @returns Whether it has the note.
 */
export function hasPvhEntry(elf: Uint8Array): boolean {
  let segments: ElfSegment[];
  try {
    const header = parseElfHeader(elf);
    if (header.bits !== 64 || header.endian !== "little") return false;
    segments = elfSegments(elf);
  } catch {
    return false; // not ELF, or truncated
  }
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  for (const segment of segments) {
    if (segment.type !== PT_NOTE) continue;
    let at = segment.offset;
    const end = at + segment.size;
    while (at + 12 <= end && end <= elf.length) {
      const nameSize = view.getUint32(at, true);
      const descSize = view.getUint32(at + 4, true);
      const type = view.getUint32(at + 8, true);
      const name = new TextDecoder().decode(elf.subarray(at + 12, at + 12 + nameSize));
      if (name === "Xen\0" && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + ((nameSize + 3) & ~3) + ((descSize + 3) & ~3);
    }
  }
  return false;
}

/**
 * Extracts the ELF `vmlinux` from an x86 `bzImage` whose payload is LZ4- or gzip-compressed,
 * if it can be booted through PVH.
 *
 * @param bzImage The `bzImage` (`/boot/vmlinuz-*`) bytes.
 * @returns The `vmlinux` bytes, or `undefined` when the file is not a bzImage, its payload uses
 *   another compression, or the kernel has no PVH entry point.
 *
 * @example
 * ```ts
 * import { extractVmlinux } from "@vmkit/vmkit";
 * const vmlinux = await extractVmlinux(await Deno.readFile("/boot/vmlinuz"));
 * if (vmlinux) await Deno.writeFile("vmlinux", vmlinux);
 * ```
 */
export async function extractVmlinux(bzImage: Uint8Array): Promise<Uint8Array | undefined> {
  if (
    bzImage.length < 0x250 || new TextDecoder().decode(bzImage.subarray(0x202, 0x206)) !== "HdrS"
  ) {
    return undefined;
  }
  const view = new DataView(bzImage.buffer, bzImage.byteOffset, bzImage.byteLength);
  const setupSectors = bzImage[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + view.getUint32(0x248, true);
  const length = view.getUint32(0x24c, true);
  if (start + length > bzImage.length || length < 8) return undefined;
  const payload = bzImage.subarray(start, start + length);
  const size = view.getUint32(start + length - 4, true); // the kernel appends it
  let vmlinux: Uint8Array;
  try {
    if (new DataView(payload.buffer, payload.byteOffset).getUint32(0, true) === LZ4_LEGACY_MAGIC) {
      vmlinux = lz4LegacyDecompress(payload, size);
    } else if (payload[0] === 0x1f && payload[1] === 0x8b) {
      vmlinux = await gunzipMember(payload);
    } else {
      return undefined;
    }
  } catch {
    return undefined;
  }
  return hasPvhEntry(vmlinux) ? vmlinux : undefined;
}
