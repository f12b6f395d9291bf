/**
 * Parsing `modules.alias`: which devices each kernel module drives.
 *
 * @module
 */

import { moduleName } from "./modules_dep.ts";

/**
 * Buses whose devices a guest finds by their `modalias` in sysfs (`/sys/bus/<bus>/devices/*`,
 * input devices, the CPU and the DMI table). An alias on one of them names a device the module
 * drives; other aliases (`fs-overlay`, `crypto-sha256`, `devname:fuse`) name services.
 */
const DEVICE_BUSES = [
  "acpi",
  "ccw",
  "cpu",
  "css",
  "dmi",
  "hid",
  "i2c",
  "input",
  "of",
  "pci",
  "platform",
  "scsi",
  "serio",
  "spi",
  "usb",
  "vio",
  "virtio",
  "xen",
];
const DEVICE_ALIAS = new RegExp(`^(${DEVICE_BUSES.join("|")})\\*?:`);

/**
 * Parses the text of a `modules.alias` file (lines `alias PATTERN MODULE`, as depmod writes them).
 *
 * @param text The file's content.
 * @returns The alias patterns of each module, by canonical module name.
 * @throws {SyntaxError} When a line is not `alias PATTERN MODULE`.
 *
 * @example
 * ```ts
 * import { parseModulesAlias } from "@vmkit/vmkit";
 * const aliases = parseModulesAlias("alias virtio:d00000002v* virtio_blk\n");
 * console.log(aliases.get("virtio_blk")); // ["virtio:d00000002v*"]
 * ```
 */
export function parseModulesAlias(text: string): Map<string, string[]> {
  const aliases = new Map<string, string[]>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    if (fields.length !== 3 || fields[0] !== "alias") {
      throw new SyntaxError(
        `Cannot parse modules.alias line ${i + 1} ${
          JSON.stringify(line)
        }: expected "alias PATTERN MODULE"`,
      );
    }
    const name = moduleName(fields[2]);
    const patterns = aliases.get(name) ?? [];
    patterns.push(fields[1]);
    aliases.set(name, patterns);
  }
  return aliases;
}

/**
 * Whether an alias pattern names a device (found through its `modalias` in sysfs) rather than a
 * service such as a filesystem or a crypto algorithm.
 *
 * @param pattern An alias pattern from `modules.alias`.
 * @returns `true` for `pci:v00001AF4d*...`, `virtio:d00000002v*`, `acpi*:LNXPWRBN:*`.
 *
 * @example
 * ```ts
 * import { isDeviceAlias } from "@vmkit/vmkit";
 * console.log(isDeviceAlias("virtio:d00000002v*"), isDeviceAlias("fs-overlay")); // true false
 * ```
 */
export function isDeviceAlias(pattern: string): boolean {
  return DEVICE_ALIAS.test(pattern);
}
