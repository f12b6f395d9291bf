/**
 * How the instance commands write: durations and memory sizes as text, bytes to a file.
 *
 * @module
 */

/** Encodes what the instance commands write. */
export const encoder = new TextEncoder();

/** A duration as seconds with one decimal: `1.5 s`. */
export function secondsText(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A memory size in MiB, as GiB when it is whole GiB: `512MiB`, `2GiB`. */
export function memoryText(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024}GiB` : `${mib}MiB`;
}

/** Writes every byte, however many writes it takes. */
export async function writeAll(
  file: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
