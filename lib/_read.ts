// Reading a number of bytes from a file, however the reads come back.

/** Up to `size` bytes from the file's position: fewer only at its end. */
export async function readUpTo(file: Deno.FsFile, size: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}
