/**
 * Persistent configuration: entries written as files that systemd-binfmt or Debian's
 * update-binfmts register at boot, in the formats `qemu-binfmt-conf.sh --systemd` and
 * `--debian` write.
 *
 * @module
 */

import type { BinfmtEntry } from "./entry.ts";
import { registrationString } from "./registration_string.ts";
import { escapedHex } from "./_hex.ts";

/** The export formats. */
export type ExportFormat = "systemd" | "debian";

/** One file to write. */
export interface ExportFile {
  /** File name inside the export directory. */
  name: string;
  /** Its text. */
  text: string;
}

/**
 * The file for one entry: `<name>.conf` holding the registration string for systemd's
 * `binfmt.d`, or an update-binfmts template named `<name>` for Debian.
 *
 * @param entry The entry (a magic entry for the Debian format).
 * @param format `"systemd"` or `"debian"`.
 * @returns The file's name and text.
 * @throws {TypeError} When the entry is invalid, or an extension entry is exported for Debian.
 * @throws {RangeError} When the entry breaks a kernel limit.
 *
 * @example
 * ```ts
 * import { binfmt, exportFile } from "@vmkit/vmkit";
 * const e = binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true });
 * console.log(exportFile(e, "systemd").name); // "qemu-aarch64.conf"
 * console.log(exportFile(e, "debian").text.split("\n")[1]); // "interpreter /usr/bin/qemu-aarch64-static"
 * ```
 */
export function exportFile(entry: BinfmtEntry, format: ExportFormat): ExportFile {
  const line = registrationString(entry);
  if (format === "systemd") return { name: `${entry.name}.conf`, text: `${line}\n` };
  if (entry.type !== "M") {
    throw new TypeError(
      `Cannot export binfmt_misc entry "${entry.name}" for Debian: vmkit writes update-binfmts templates for magic entries only`,
    );
  }
  const yesNo = (on: boolean) => on ? "yes" : "no";
  const lines = [
    `package ${entry.name}`,
    `interpreter ${entry.interpreter}`,
    `magic ${escapedHex(entry.magic)}`,
    ...(entry.offset === 0 ? [] : [`offset ${entry.offset}`]),
    `mask ${escapedHex(entry.mask)}`,
    `credentials ${yesNo(entry.flags.credential)}`,
    `preserve ${yesNo(entry.flags.preserveArgv0)}`,
    `fix_binary ${yesNo(entry.flags.persistent)}`,
  ];
  return { name: entry.name, text: lines.join("\n") + "\n" };
}

/**
 * Writes the files of {@linkcode exportFile} for several entries into a directory (created if
 * missing). Every entry is validated before the first file is written.
 *
 * @param entries The entries.
 * @param format `"systemd"` (for `/etc/binfmt.d`) or `"debian"` (for `/usr/share/binfmts`).
 * @param options The directory.
 * @returns The paths written.
 * @throws {TypeError | RangeError} When an entry is invalid; nothing is written then.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * await binfmt.exportEntries([binfmt.entry("riscv64")], "systemd", { dir: "/etc/binfmt.d" });
 * ```
 */
export async function exportEntries(
  entries: readonly BinfmtEntry[],
  format: ExportFormat,
  options: { dir: string },
): Promise<string[]> {
  const files = entries.map((e) => exportFile(e, format));
  await Deno.mkdir(options.dir, { recursive: true });
  const paths: string[] = [];
  for (const file of files) {
    const path = `${options.dir.replace(/\/+$/, "")}/${file.name}`;
    await Deno.writeTextFile(path, file.text);
    paths.push(path);
  }
  return paths;
}
