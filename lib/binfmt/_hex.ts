// Bytes as the kernel and its configuration files write them.

/** `\x7f\x45...`: the escaped form of registration strings and update-binfmts templates. */
export function escapedHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => "\\x" + b.toString(16).padStart(2, "0")).join("");
}

/** `7f45...`: the form of entry files under /proc/sys/fs/binfmt_misc. */
export function plainHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parses plain hex; `undefined` when it is not an even number of hex digits. */
export function parsePlainHex(text: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})*$/i.test(text)) return undefined;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
