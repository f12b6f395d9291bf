/**
 * Reading the applet list out of a busybox binary of any architecture.
 *
 * @module
 */

const APPLET_NAME = /^[A-Za-z0-9_.+\-\[\]]+$/;

/**
 * Lists the applets a busybox binary provides, by reading its packed applet-name table (the
 * names `[`, `[[`, ... stored NUL-separated and sorted), so the binary need not be run: this
 * works for a busybox of any architecture.
 *
 * @param binary The busybox executable's bytes.
 * @returns The applet names, in the binary's (sorted) order.
 * @throws {TypeError} When no applet table is found: the file is not a busybox binary.
 *
 * @example
 * ```ts
 * import { busyboxApplets } from "@vmkit/vmkit";
 * const applets = busyboxApplets(await Deno.readFile("/bin/busybox"));
 * console.log(applets.includes("sh")); // true
 * ```
 */
export function busyboxApplets(binary: Uint8Array): string[] {
  const start = indexOf(binary, [0, 0x5b, 0, 0x5b, 0x5b, 0]); // "\0[\0[[\0"
  if (start < 0) {
    throw new TypeError(
      "Cannot list busybox applets: no applet table found; is this a busybox binary?",
    );
  }
  const decoder = new TextDecoder();
  const names: string[] = [];
  let offset = start + 1;
  while (offset < binary.length) {
    const end = binary.indexOf(0, offset);
    if (end <= offset) break;
    const name = decoder.decode(binary.subarray(offset, end));
    if (!APPLET_NAME.test(name)) break;
    names.push(name);
    offset = end + 1;
  }
  return names;
}

function indexOf(haystack: Uint8Array, needle: readonly number[]): number {
  let from = 0;
  while (true) {
    const at = haystack.indexOf(needle[0], from);
    if (at < 0 || at + needle.length > haystack.length) return -1;
    let match = true;
    for (let i = 1; i < needle.length; i++) {
      if (haystack[at + i] !== needle[i]) {
        match = false;
        break;
      }
    }
    if (match) return at;
    from = at + 1;
  }
}
