/**
 * Writing QEMU option lists (`key=value,key=value`) and shell lines safely.
 *
 * @module
 */

/**
 * Checks a user value for an argv element: newline and NUL are rejected, since QEMU cannot
 * receive them and they break copy-pasted shell lines.
 *
 * @param field What the value is for, named in the error.
 * @param value The value.
 * @returns The value.
 * @throws {TypeError} When the value is not a string or contains newline or NUL.
 */
export function checkValue(field: string, value: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot set ${field} to ${String(value)}: expected a string`);
  }
  if (/[\n\r\0]/.test(value)) {
    throw new TypeError(
      `Cannot set ${field} to ${JSON.stringify(value)}: newline and NUL are not allowed`,
    );
  }
  return value;
}

/**
 * Checks the first item of a QEMU option list, such as a machine type or CPU model: QEMU reads
 * it as a name only when it has no `=` (else it is a property, and QEMU silently uses its
 * default) and no `,` (which starts the properties).
 *
 * @param field What the value is, named in the error: `"machine type"`.
 * @param value The value.
 * @param hint Where properties go instead, added to the error.
 * @returns The value.
 * @throws {TypeError} When the value is empty or has anything but letters, digits, `_`, `.`,
 *   `+` and `-`.
 *
 * @example
 * ```ts
 * import { checkOptionHead } from "@vmkit/vmkit";
 * console.log(checkOptionHead("machine type", "pc-q35-7.2")); // "pc-q35-7.2"
 * ```
 */
export function checkOptionHead(field: string, value: string, hint?: string): string {
  checkValue(field, value);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(value)) {
    throw new TypeError(
      `Cannot set ${field} to ${
        JSON.stringify(value)
      }: use a name of letters, digits, "_", ".", "+" and "-"${hint ? `; ${hint}` : ""}`,
    );
  }
  return value;
}

/**
 * Escapes a value for a QEMU option list: `,` becomes `,,`.
 *
 * @param field What the value is for, named in errors.
 * @param value The value.
 * @returns The escaped value.
 * @throws {TypeError} When the value is empty, or contains newline or NUL.
 *
 * @example
 * ```ts
 * import { escapeOptionValue } from "@vmkit/vmkit";
 * console.log(escapeOptionValue("drive file", "disk,1.img")); // "disk,,1.img"
 * ```
 */
export function escapeOptionValue(field: string, value: string): string {
  checkValue(field, value);
  if (value === "") throw new TypeError(`Cannot set ${field} to "": it is empty`);
  return value.replaceAll(",", ",,");
}

/**
 * Joins `[key, value]` pairs into a QEMU option list, escaping each value; `undefined` values
 * are left out. A bare first element (the driver or type) is written as is.
 *
 * @param head Driver or type, such as `"virtio-blk-pci"`; written unescaped.
 * @param pairs Keys and values.
 * @returns The option list.
 */
export function optionList(
  head: string | undefined,
  pairs: readonly (readonly [string, string | number | boolean | undefined, string?])[],
): string {
  const parts = head === undefined ? [] : [head];
  for (const [key, value, field] of pairs) {
    if (value === undefined) continue;
    const text = typeof value === "boolean" ? (value ? "on" : "off") : String(value);
    parts.push(`${key}=${escapeOptionValue(field ?? key, text)}`);
  }
  return parts.join(",");
}

/**
 * Quotes one argument for a POSIX shell.
 *
 * @param arg The argument.
 * @returns It, single-quoted when it has anything but safe characters.
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-+=.,/:@%]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
