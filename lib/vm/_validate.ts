// Checks of user values shared by the builder's methods and `VmBuilder.fromJSON`. Each check
// names the field it checks: the builder passes names such as "drive cache", a JSON
// description the path of the field, such as "drives[1].cache".

import { checkValue } from "./qemu_opts.ts";

/** Names a field of the value being checked: `"cache"` → `"drive cache"` or `"drives[1].cache"`. */
export type Field = (key: string) => string;

/** Fields named as the builder's methods name them: `drive cache`. */
export function methodField(name: string): Field {
  return (key) => `${name} ${key}`;
}

/**
 * Fields named by their path in a JSON description: `drives[1].cache`. The key `"options"`
 * names the object itself (`drives[1]`), as `"drive options"` does for a method.
 */
export function pathField(path: string): Field {
  return (key) => (key === "options" ? path : path === "" ? key : `${path}.${key}`);
}

function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Checks that a value is a plain object with only known keys, and names the unknown one.
 */
export function checkRecord(
  field: string,
  value: unknown,
  keys: readonly string[],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const shown = Array.isArray(value) ? "an array" : quote(value);
    throw new TypeError(`Cannot set ${field} to ${shown}: expected an object`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new TypeError(
        `Cannot set ${field}: unknown field ${JSON.stringify(key)}; use ${
          keys.map((k) => JSON.stringify(k)).join(", ")
        }`,
      );
    }
  }
  return value as Record<string, unknown>;
}

/** Checks that a value is an array. */
export function checkArray(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) {
    const shown = typeof value === "object" && value !== null ? "an object" : quote(value);
    throw new TypeError(`Cannot set ${field} to ${shown}: expected an array`);
  }
  return value;
}

/** Checks one of a set of strings. */
export function checkEnum<const T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new TypeError(
      `Cannot set ${field} to ${quote(value)}: use ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  }
  return value as T;
}

/** Like {@linkcode checkEnum}, for an optional value. */
export function optionalEnum<const T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
): T | undefined {
  return value === undefined ? undefined : checkEnum(field, value, allowed);
}

/** Checks a boolean. */
export function optionalBoolean(field: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(`Cannot set ${field} to ${quote(value)}: use true or false`);
  }
  return value;
}

/** Checks the on/off argument of a builder method such as `.sandbox(on)`. */
export function checkFlag(method: string, on: unknown): boolean {
  if (typeof on !== "boolean") {
    throw new TypeError(
      `Cannot call .${method}(${JSON.stringify(on)}): pass true or false (or nothing, for true)`,
    );
  }
  return on;
}

/** Checks a string with no newline or NUL. */
export function checkString(field: string, value: unknown): string {
  return checkValue(field, value as string);
}

/** Like {@linkcode checkString}, for an optional value. */
export function optionalString(field: string, value: unknown): string | undefined {
  return value === undefined ? undefined : checkString(field, value);
}

/** Checks a whole number in a range. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot set ${field} to ${quote(value)}: use a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

/** Like {@linkcode checkInteger}, for an optional value. */
export function optionalInteger(
  field: string,
  value: unknown,
  min: number,
  max: number,
): number | undefined {
  return value === undefined ? undefined : checkInteger(field, value, min, max);
}

/**
 * Rethrows a check's `TypeError` or `RangeError` inside a larger action: `prefix` takes the place
 * of what `lead` matches (its "Cannot "), and the kind and cause are kept. Other errors are
 * rethrown as they are.
 */
export function rethrowWithin(prefix: string, error: unknown, lead: RegExp = /^Cannot /): never {
  if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
  const Kind = error instanceof TypeError ? TypeError : RangeError;
  throw new Kind(`${prefix}${error.message.replace(lead, "")}`, { cause: error });
}

/** Drops the keys whose value is `undefined`, so a description prints as it was written. */
export function defined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as T;
}
