// Joining byte arrays.

/** The parts one after another in a new array; `length` may be given when the caller knows it. */
export function concatBytes(
  parts: readonly Uint8Array[],
  length: number = parts.reduce((n, p) => n + p.length, 0),
): Uint8Array {
  const all = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}
