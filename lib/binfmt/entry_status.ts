/**
 * Reading back what the kernel holds: the text of an entry file under
 * `/proc/sys/fs/binfmt_misc`, and how it differs from an entry vmkit wants.
 *
 * @module
 */

import { type BinfmtEntry, flagLetters } from "./entry.ts";
import { parsePlainHex, plainHex } from "./_hex.ts";

/** An entry as the kernel reports it. */
export interface BinfmtStatus extends BinfmtEntry {
  /** Whether the entry is enabled. */
  enabled: boolean;
}

function fromHex(text: string, what: string, name: string): Uint8Array {
  const bytes = parsePlainHex(text);
  if (bytes === undefined) {
    throw new TypeError(
      `Cannot parse binfmt_misc entry ${JSON.stringify(name)}: ${what} ${
        JSON.stringify(text)
      } is not hex`,
    );
  }
  return bytes;
}

/**
 * Parses the text of an entry file, as `cat /proc/sys/fs/binfmt_misc/<name>` shows it:
 *
 * ```text
 * enabled
 * interpreter /usr/bin/qemu-aarch64-static
 * flags: POCF
 * offset 0
 * magic 7f454c46...
 * mask ffffffff...
 * ```
 *
 * Extension entries have an `extension .exe` line instead of offset, magic and mask. The kernel
 * stores the magic already masked, so that is what `magic` holds.
 *
 * @param name The entry's name (its file name).
 * @param text The file's text.
 * @returns The entry.
 * @throws {TypeError} When the text is not an entry file.
 *
 * @example
 * ```ts
 * import { parseEntryStatus } from "@vmkit/vmkit";
 * const s = parseEntryStatus("x", "disabled\ninterpreter /bin/x\nflags: F\nextension .x\n");
 * console.log(s.enabled, s.type, s.extension, s.flags.persistent); // false "E" "x" true
 * ```
 */
export function parseEntryStatus(name: string, text: string): BinfmtStatus {
  const lines = text.split("\n").filter((l) => l !== "");
  const state = lines[0];
  if (state !== "enabled" && state !== "disabled") {
    throw new TypeError(
      `Cannot parse binfmt_misc entry ${JSON.stringify(name)}: it starts with ${
        JSON.stringify(state)
      }, not "enabled" or "disabled"`,
    );
  }
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const match = /^(interpreter|flags:|offset|magic|mask|extension) ?(.*)$/.exec(line);
    if (match !== null) fields.set(match[1].replace(":", ""), match[2]);
  }
  const interpreter = fields.get("interpreter");
  if (interpreter === undefined) {
    throw new TypeError(
      `Cannot parse binfmt_misc entry ${JSON.stringify(name)}: no interpreter line`,
    );
  }
  const letters = fields.get("flags") ?? "";
  const flags = {
    preserveArgv0: letters.includes("P"),
    openBinary: letters.includes("O"),
    credential: letters.includes("C"),
    persistent: letters.includes("F"),
  };
  const extension = fields.get("extension");
  if (extension !== undefined) {
    return {
      name,
      enabled: state === "enabled",
      type: "E",
      offset: 0,
      magic: new Uint8Array(),
      mask: new Uint8Array(),
      extension: extension.replace(/^\./, ""),
      interpreter,
      flags,
    };
  }
  const magic = fromHex(fields.get("magic") ?? "", "magic", name);
  const maskText = fields.get("mask");
  return {
    name,
    enabled: state === "enabled",
    type: "M",
    offset: Number(fields.get("offset") ?? "0"),
    magic,
    mask: maskText === undefined
      ? new Uint8Array(magic.length).fill(0xff)
      : fromHex(maskText, "mask", name),
    interpreter,
    flags,
  };
}

function masked(entry: BinfmtEntry): string {
  return plainHex(entry.magic.map((b, i) => b & (entry.mask[i] ?? 0xff)));
}

/**
 * How a registered entry differs from a wanted one, field by field (name and enabled state are
 * not compared). Magic is compared masked, as the kernel stores it.
 *
 * @param existing What the kernel has.
 * @param wanted What is to be registered.
 * @returns One line per differing field, `field: "old" → "new"`; empty when they are the same.
 *
 * @example
 * ```ts
 * import { binfmt, entryDifferences } from "@vmkit/vmkit";
 * const a = binfmt.entry("s390x");
 * const b = binfmt.entry("s390x", { persistent: true });
 * console.log(entryDifferences(a, b)); // [ 'flags: "" → "F"' ]
 * ```
 */
export function entryDifferences(existing: BinfmtEntry, wanted: BinfmtEntry): string[] {
  const out: string[] = [];
  const compare = (field: string, a: string, b: string) => {
    if (a !== b) out.push(`${field}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  };
  compare("type", existing.type, wanted.type);
  compare("interpreter", existing.interpreter, wanted.interpreter);
  compare("flags", flagLetters(existing.flags), flagLetters(wanted.flags));
  if (existing.type === "E" || wanted.type === "E") {
    compare("extension", existing.extension ?? "", wanted.extension ?? "");
  } else {
    compare("offset", String(existing.offset), String(wanted.offset));
    compare("magic", masked(existing), masked(wanted));
    compare("mask", plainHex(existing.mask), plainHex(wanted.mask));
  }
  return out;
}
