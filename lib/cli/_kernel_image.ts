// What a kernel file is, from its header: an x86 bzImage, an ELF vmlinux, an arm64 or RISC-V
// Image, a PE (EFI zboot) image, or a gzip of one of those; its architecture, and the version its
// banner gives, so `vmkit kernel` can refuse the wrong file before QEMU says something obscure.

import { parseElfHeader } from "../binfmt/elf.ts";
import { concatBytes } from "../_bytes.ts";
import { readUpTo } from "../_read.ts";

/** What {@linkcode readKernelImage} found. */
export interface KernelImage {
  /** The file's format. */
  format: "bzImage" | "elf" | "arm64-image" | "riscv-image" | "pe" | "gzip";
  /** The architecture, in vmkit's spelling (`x86_64`, `aarch64`, `riscv64`, `i386`...). */
  arch: string;
  /** The kernel release (`6.1.0-57-cloud-amd64`), when the header or banner says it. */
  version?: string;
}

const HEAD = 64 * 1024;
const ELF_MACHINES: Readonly<Record<number, string>> = {
  3: "i386",
  8: "mips",
  20: "ppc",
  21: "ppc64",
  22: "s390x",
  40: "arm",
  62: "x86_64",
  183: "aarch64",
  243: "riscv64",
};
const PE_MACHINES: Readonly<Record<number, string>> = {
  0x14c: "i386",
  0x8664: "x86_64",
  0xaa64: "aarch64",
  0x5064: "riscv64",
  0x1c0: "arm",
  0x1c4: "arm",
};
const latin1 = new TextDecoder("latin1");

/** A kernel release in a banner: "Linux version 6.1.0-57-cloud-amd64 (...". */
const BANNER = /Linux version (\S+) \(/;

async function readHead(path: string, length: number): Promise<Uint8Array> {
  using file = await Deno.open(path);
  return await readUpTo(file, length);
}

/** The first `limit` bytes a gzip stream inflates to (enough to read a header). */
async function gunzipHead(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip")).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } catch {
    // The head was cut mid-stream: what was inflated so far is enough.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return concatBytes(chunks, total).subarray(0, Math.min(total, limit));
}

/** The format and architecture of a header, or undefined when it is no kernel vmkit knows. */
function identify(head: Uint8Array): Omit<KernelImage, "version"> | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const text = (at: number, length: number) =>
    head.length >= at + length ? latin1.decode(head.subarray(at, at + length)) : "";
  if (text(0x202, 4) === "HdrS") {
    // xloadflags bit 0: the kernel has a 64-bit entry point (boot protocol 2.12+).
    const protocol = view.getUint16(0x206, true);
    const is64 = protocol < 0x20c || (view.getUint16(0x236, true) & 1) === 1;
    return { format: "bzImage", arch: is64 ? "x86_64" : "i386" };
  }
  if (head[0] === 0x7f && text(1, 3) === "ELF") {
    try {
      const header = parseElfHeader(head);
      return {
        format: "elf",
        arch: ELF_MACHINES[header.machine] ?? `ELF machine ${header.machine}`,
      };
    } catch {
      return undefined;
    }
  }
  if (text(0x38, 4) === "ARM\x64") return { format: "arm64-image", arch: "aarch64" };
  if (text(0x38, 4) === "RSC\x05") return { format: "riscv-image", arch: "riscv64" };
  if (text(0, 2) === "MZ" && head.length >= 0x40) {
    const pe = view.getUint32(0x3c, true);
    if (text(pe, 4) === "PE\0\0" && head.length >= pe + 6) {
      const machine = view.getUint16(pe + 4, true);
      return { format: "pe", arch: PE_MACHINES[machine] ?? `PE machine 0x${machine.toString(16)}` };
    }
  }
  return undefined;
}

/** The release a bzImage's header points to (`kernel_version`, boot protocol 2.00+). */
function bzImageVersion(head: Uint8Array): string | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const pointer = view.getUint16(0x20e, true);
  if (pointer === 0 || 0x200 + pointer >= head.length) return undefined;
  const start = 0x200 + pointer;
  const end = head.indexOf(0, start);
  const text = latin1.decode(head.subarray(start, end < 0 ? start + 256 : end));
  return /^(\S+)/.exec(text)?.[1];
}

/** The release in the banner of an uncompressed kernel, searched in 4 MiB steps. */
async function bannerVersion(path: string): Promise<string | undefined> {
  using file = await Deno.open(path);
  const buffer = new Uint8Array(4 * 2 ** 20);
  let carry = "";
  while (true) {
    const n = await file.read(buffer);
    if (n === null) return undefined;
    const text = carry + latin1.decode(buffer.subarray(0, n));
    const match = BANNER.exec(text);
    if (match !== null) return match[1];
    carry = text.slice(-200);
  }
}

/**
 * Reads what a kernel file is from its first 64 KiB (inflated first when it is gzip), and the
 * release from a bzImage's header or an uncompressed kernel's banner.
 *
 * @param path The kernel file.
 * @returns Its format, architecture and release; `undefined` when it is no kernel image vmkit
 *   recognises.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 */
export async function readKernelImage(path: string): Promise<KernelImage | undefined> {
  const raw = await readHead(path, HEAD);
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    // Debian's arm64 vmlinuz is a gzip of the Image; QEMU inflates it itself.
    const inner = identify(await gunzipHead(await readHead(path, 4 * 2 ** 20), HEAD));
    return inner === undefined ? undefined : { format: "gzip", arch: inner.arch };
  }
  const found = identify(raw);
  if (found === undefined) return undefined;
  const version = found.format === "bzImage"
    ? bzImageVersion(raw)
    : found.format === "pe"
    ? undefined
    : await bannerVersion(path);
  return version === undefined ? found : { ...found, version };
}
