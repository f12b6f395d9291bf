/**
 * The guest's SSH host keys, learned from what cloud-init prints on the console at boot:
 *
 * ```text
 * -----BEGIN SSH HOST KEY KEYS-----
 * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... root@vmkit
 * -----END SSH HOST KEY KEYS-----
 * ```
 *
 * @module
 */

const BEGIN = "-----BEGIN SSH HOST KEY KEYS-----";
const END = "-----END SSH HOST KEY KEYS-----";

/** A public key line's parts, checked. */
export interface PublicKeyLine {
  /** Key type, such as `ssh-ed25519` or `ecdsa-sha2-nistp256`. */
  type: string;
  /** The key blob in base64. */
  key: string;
  /** The comment after it, if any. */
  comment?: string;
}

/**
 * Reads one OpenSSH public key line, `type base64 [comment]`, and checks it: the base64 must
 * decode to a whole key blob (length-prefixed fields, ending with the last) whose first field is
 * the same type, so a line cut or spliced by other console output is not taken for a key.
 *
 * @param line The line.
 * @returns Its parts, or `undefined` when it is not a whole public key line.
 *
 * @example
 * ```ts
 * import { parsePublicKeyLine } from "@vmkit/vmkit";
 * console.log(parsePublicKeyLine("ssh-ed25519 AAAA"));  // undefined: the blob is cut
 * ```
 */
export function parsePublicKeyLine(line: string): PublicKeyLine | undefined {
  const match = /^([A-Za-z0-9@.-]+) ([A-Za-z0-9+/]+={0,2})(?: (.*))?$/.exec(line.trim());
  if (match === null) return undefined;
  const [, type, key, comment] = match;
  let blob: string;
  try {
    blob = atob(key);
  } catch {
    return undefined;
  }
  // The SSH wire format: length-prefixed fields (uint32 length, then bytes), the first the key
  // type, then the key's own (a public key, a curve and a point, an exponent and a modulus).
  // A cut blob does not end on a field's end.
  const fields: string[] = [];
  for (let at = 0; at < blob.length;) {
    if (at + 4 > blob.length) return undefined;
    const length = ((blob.charCodeAt(at) << 24) | (blob.charCodeAt(at + 1) << 16) |
      (blob.charCodeAt(at + 2) << 8) | blob.charCodeAt(at + 3)) >>> 0;
    if (at + 4 + length > blob.length) return undefined;
    fields.push(blob.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (fields.length < 2 || fields[0] !== type) return undefined;
  return comment === undefined || comment === "" ? { type, key } : { type, key, comment };
}

/**
 * The host keys cloud-init printed on the console (its `keys_to_console` module), between
 * `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`. Carriage returns
 * and lines other output (kernel messages) put inside the block are skipped; only the last
 * complete block counts (a guest that booted twice printed two).
 *
 * @param text Console output, such as `vm.console.transcript`.
 * @returns The key lines (`type base64 comment`), in the order printed; empty when no complete
 *   block is there yet.
 *
 * @example
 * ```ts
 * import type { Vm } from "@vmkit/vmkit";
 * declare const vm: Vm;
 * import { hostKeysFromConsole } from "@vmkit/vmkit";
 * await vm.console.expect("-----END SSH HOST KEY KEYS-----", { timeout: 300_000 });
 * const keys = hostKeysFromConsole(vm.console.transcript);
 * ```
 */
export function hostKeysFromConsole(text: string): string[] {
  const lines = text.split(/\r?\n|\r/).map((line) => line.trim());
  const end = lines.lastIndexOf(END);
  if (end < 0) return [];
  const begin = lines.lastIndexOf(BEGIN, end);
  if (begin < 0) return [];
  return lines.slice(begin + 1, end).filter((line) => parsePublicKeyLine(line) !== undefined);
}
