/**
 * Splitting a file of concatenated gzip members (an Alpine `.apk` has three) at the member
 * boundaries. The web `DecompressionStream` reads only one member and rejects anything after
 * it, so each boundary is found by trying the places where a member can start.
 *
 * @module
 */

/**
 * Decompresses exactly one gzip member.
 *
 * @param member The member's bytes, header to trailer, nothing after.
 * @returns The decompressed bytes.
 * @throws {TypeError} When the bytes are not exactly one valid member (bad data, a CRC or size
 *   mismatch, a truncated member, or bytes after it).
 */
export async function gunzipMember(member: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([member as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function isMemberStart(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === 0x1f && bytes[at + 1] === 0x8b && bytes[at + 2] === 0x08;
}

/**
 * Splits concatenated gzip members. The last member runs to the end of the input.
 *
 * @param bytes The whole file.
 * @param options `count`: how many members to split off at most; the rest of the input is the
 *   last one (default: as many as there are).
 * @returns The members' compressed bytes (views into `bytes`), each a valid gzip member.
 * @throws {TypeError} When the input does not start with a gzip member, or a member is corrupt.
 *
 * @example
 * ```ts
 * import { emulators } from "@vmkit/vmkit";
 * const gz = async (text: string) =>
 *   new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
 * const both = new Uint8Array([...await gz("one"), ...await gz("two")]);
 * const members = await emulators.gzipMembers(both);
 * console.log(members.length); // 2
 * ```
 */
export async function gzipMembers(
  bytes: Uint8Array,
  options: { count?: number } = {},
): Promise<Uint8Array[]> {
  const count = options.count ?? Infinity;
  const members: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    if (!isMemberStart(bytes, start)) {
      throw new TypeError(`Cannot split gzip members: byte ${start} does not start a gzip member`);
    }
    let end = bytes.length;
    if (members.length + 1 < count) {
      // The smallest gzip member is 20 bytes; a later candidate that decodes cleanly up to
      // itself is the boundary (the CRC and size in the trailer rule out false ones).
      for (let at = start + 20; at + 3 <= bytes.length; at++) {
        if (!isMemberStart(bytes, at)) continue;
        try {
          await gunzipMember(bytes.subarray(start, at));
          end = at;
          break;
        } catch {
          // Not a boundary: those bytes happened to look like a gzip header.
        }
      }
    }
    members.push(bytes.subarray(start, end));
    start = end;
  }
  if (members.length === 0) throw new TypeError("Cannot split gzip members: the input is empty");
  return members;
}
