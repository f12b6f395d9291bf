// Base64, with the engine's own Uint8Array.prototype.toBase64 / Uint8Array.fromBase64 (fast on
// megabytes; TypeScript's libs do not declare them yet).

interface Base64Codec {
  fromBase64(text: string): Uint8Array;
}

/** The bytes as standard base64 (with padding). */
export function encodeBase64(bytes: Uint8Array): string {
  return (bytes as Uint8Array & { toBase64(): string }).toBase64();
}

/**
 * The bytes that standard base64 `text` encodes.
 *
 * @throws {SyntaxError} When `text` is not base64.
 */
export function decodeBase64(text: string): Uint8Array {
  return (Uint8Array as unknown as Base64Codec).fromBase64(text);
}
