// Reads the start of a file: enough for binfmt_misc's magic and, for ELF files, the program
// headers, so that elfTarget and elfInterpreter have what they need.
import { concatBytes } from "../_bytes.ts";
import { readUpTo } from "../_read.ts";
import { elfInterpreterRange, parseElfHeader } from "./elf.ts";

const FIRST = 128;
const MAX_HEAD = 1 << 20;

/**
 * The file's first bytes: at least 128 (fewer for a shorter file) and, for ELF files, all
 * program headers and the interpreter path.
 */
export async function readHead(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  let head = await readUpTo(file, FIRST);
  try {
    head = await extend(file, head, parseElfHeader(head).headBytes);
    const interp = elfInterpreterRange(head);
    if (interp !== undefined) head = await extend(file, head, interp.offset + interp.size);
  } catch {
    // Not ELF, or a truncated one: what was read is all there is to match.
  }
  return head;
}

async function extend(file: Deno.FsFile, head: Uint8Array, end: number): Promise<Uint8Array> {
  if (end <= head.length || end > MAX_HEAD) return head;
  return concatBytes([head, await readUpTo(file, end - head.length)]);
}
