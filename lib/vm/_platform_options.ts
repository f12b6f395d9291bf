// Checks of the platform options (firmware, SMBIOS, RTC, QOM objects, -global, UUID, the user
// QEMU runs as), shared by the builder's methods and `VmBuilder.fromJSON`.

import { checkId, checkPath } from "./_checks.ts";
import {
  checkArray,
  checkEnum,
  checkRecord,
  checkString,
  defined,
  optionalBoolean,
  optionalEnum,
} from "./_validate.ts";
import { checkOptionHead, escapeOptionValue } from "./qemu_opts.ts";

/** Where the machine's firmware comes from. */
export type Firmware =
  | { bios: string }
  /**
   * UEFI or BIOS firmware found through QEMU's firmware descriptors when the VM launches
   * (`builder.resolved()`); `vars` as for flash firmware.
   */
  | {
    interface: "uefi" | "bios";
    /** A Secure Boot build (`true`), one without (`false`), or either (default: without). */
    secureBoot?: boolean;
    /** With Secure Boot: a variable store with Microsoft's and Debian's keys enrolled. */
    enrolledKeys?: boolean;
    /** The variable store file to keep, made from the template when missing. */
    vars?: string;
  }
  /** QEMU's own default firmware (SeaBIOS on x86_64), not the fast profile's qboot. */
  | { builtin: true }
  | {
    /** The firmware code, mapped read-only as the first flash (pflash0). */
    code: string;
    /**
     * Its variable store (pflash1), written by the firmware: a file the user keeps. When it does
     * not exist and `varsTemplate` is given, `launch()` copies the template there first.
     */
    vars?: string;
    /**
     * The variable store template (`OVMF_VARS.fd`): without `vars`, each launch copies it into the
     * VM's runtime directory, so every VM starts from a fresh store.
     */
    varsTemplate?: string;
    /** A Secure Boot build that needs SMM: `-machine smm=on` and a secure flash. */
    secure?: boolean;
    /** UEFI firmware, which cannot start an ELF `vmlinux`: `launch()` refuses one. */
    uefi?: boolean;
  };

/** Where the VM's firmware variable store is: the user's file, or a copy in the runtime dir. */
export function firmwareVarsPath(
  firmware: Firmware,
  runtimeDir: string,
): string | undefined {
  if (!("code" in firmware)) return undefined;
  if (firmware.vars !== undefined) return firmware.vars;
  return firmware.varsTemplate === undefined ? undefined : `${runtimeDir}/efivars.fd`;
}

/** Checks `.firmware(...)`. */
export function parseFirmware(firmware: unknown): Firmware {
  if (firmware === "uefi" || firmware === "bios") return { interface: firmware };
  if (typeof firmware === "object" && firmware !== null && "interface" in firmware) {
    const v = checkRecord("firmware", firmware, [
      "interface",
      "secureBoot",
      "enrolledKeys",
      "vars",
    ]);
    return defined({
      interface: checkEnum("firmware interface", v.interface, ["uefi", "bios"]),
      secureBoot: optionalBoolean("firmware secureBoot", v.secureBoot),
      enrolledKeys: optionalBoolean("firmware enrolledKeys", v.enrolledKeys),
      vars: v.vars === undefined ? undefined : checkPath("firmware vars", v.vars as string),
    });
  }
  if (typeof firmware === "object" && firmware !== null && "builtin" in firmware) {
    checkRecord("firmware", firmware, ["builtin"]);
    if ((firmware as { builtin: unknown }).builtin !== true) {
      throw new TypeError(
        `Cannot set firmware builtin to ${
          String((firmware as { builtin: unknown }).builtin)
        }: use true`,
      );
    }
    return { builtin: true };
  }
  if (typeof firmware === "string") {
    throw new TypeError(
      `Cannot set firmware to ${
        JSON.stringify(firmware)
      }: use "uefi", "bios", { bios: path } or { code, vars?, varsTemplate? }`,
    );
  }
  if (typeof firmware === "object" && firmware !== null && "bios" in firmware) {
    const v = checkRecord("firmware", firmware, ["bios"]);
    return { bios: checkPath("firmware bios", v.bios as string) };
  }
  const v = checkRecord("firmware", firmware, ["code", "vars", "varsTemplate", "secure", "uefi"]);
  if (v.code === undefined) {
    throw new TypeError(
      `Cannot set firmware: give "uefi", "bios", { bios } or { code, vars?, varsTemplate? }`,
    );
  }
  return defined({
    code: checkPath("firmware code", v.code as string),
    vars: v.vars === undefined ? undefined : checkPath("firmware vars", v.vars as string),
    varsTemplate: v.varsTemplate === undefined
      ? undefined
      : checkPath("firmware varsTemplate", v.varsTemplate as string),
    secure: optionalBoolean("firmware secure", v.secure),
    uefi: optionalBoolean("firmware uefi", v.uefi),
  });
}

/** An SMBIOS entry: fields of type 0 (BIOS), 1 (system), 2 (baseboard) or 3 (chassis), or type 11 OEM strings. */
export type SmbiosEntry =
  | { type: 0; vendor?: string; version?: string; date?: string }
  | {
    type: 1;
    manufacturer?: string;
    product?: string;
    version?: string;
    serial?: string;
    uuid?: string;
    sku?: string;
    family?: string;
  }
  | { type: 2; manufacturer?: string; product?: string; version?: string; serial?: string }
  | { type: 3; manufacturer?: string; version?: string; serial?: string; sku?: string }
  | { type: 11; strings: string[] };

const SMBIOS_FIELDS: Record<number, readonly string[]> = {
  0: ["vendor", "version", "date"],
  1: ["manufacturer", "product", "version", "serial", "uuid", "sku", "family"],
  2: ["manufacturer", "product", "version", "serial"],
  3: ["manufacturer", "version", "serial", "sku"],
  11: ["strings"],
};

/** Checks one `.smbios(entry)`. */
export function parseSmbios(entry: unknown): SmbiosEntry {
  const type = (entry as { type?: unknown } | null)?.type;
  if (typeof type !== "number" || !(type in SMBIOS_FIELDS)) {
    throw new TypeError(
      `Cannot add SMBIOS entry of type ${
        JSON.stringify(type)
      }: use type 0, 1, 2, 3 or 11 (a number)`,
    );
  }
  const v = checkRecord(`SMBIOS type ${type}`, entry, ["type", ...SMBIOS_FIELDS[type]]);
  const fields: Record<string, unknown> = { type };
  for (const key of SMBIOS_FIELDS[type]) {
    if (v[key] === undefined) continue;
    if (key === "strings") {
      fields.strings = checkArray("SMBIOS type 11 strings", v.strings).map((s) =>
        checkString("SMBIOS type 11 string", s)
      );
    } else {
      fields[key] = checkString(`SMBIOS type ${type} ${key}`, v[key]);
    }
  }
  if (type === 1 && typeof fields.uuid === "string" && !UUID.test(fields.uuid)) {
    throw new TypeError(`Cannot set SMBIOS uuid ${JSON.stringify(fields.uuid)}: not a UUID`);
  }
  return fields as SmbiosEntry;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The real-time clock (`-rtc`). */
export interface RtcOptions {
  /** `"utc"` (default), `"localtime"`, or a start time such as `"2020-06-01T12:00:00"`. */
  base?: string;
  /** What drives it: `"host"` (default), `"rt"` (host monotonic), `"vm"` (guest time only). */
  clock?: "host" | "rt" | "vm";
  /** Catch up lost ticks (`"slew"`, x86_64) or not. */
  driftfix?: "none" | "slew";
}

/** Checks `.rtc(options)`. */
export function parseRtc(options: unknown): RtcOptions {
  const v = checkRecord("rtc", options, ["base", "clock", "driftfix"]);
  const base = v.base === undefined ? undefined : checkString("rtc base", v.base);
  if (
    base !== undefined && base !== "utc" && base !== "localtime" &&
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$/.test(base)
  ) {
    throw new TypeError(
      `Cannot set rtc base to ${
        JSON.stringify(base)
      }: use "utc", "localtime" or a time such as "2020-06-01T12:00:00"`,
    );
  }
  return defined({
    base,
    clock: optionalEnum("rtc clock", v.clock, ["host", "rt", "vm"]),
    driftfix: optionalEnum("rtc driftfix", v.driftfix, ["none", "slew"]),
  });
}

/** A QOM object, as `object-add` takes it: `{ "qom-type": "iothread", id: "io1" }`. */
export type ObjectDescription = { "qom-type": string; id: string } & Record<string, unknown>;

/** Checks one `.object(...)`. */
export function parseObject(object: unknown): ObjectDescription {
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    throw new TypeError(`Cannot add object ${String(object)}: give { "qom-type", id, ... }`);
  }
  const v = object as Record<string, unknown>;
  checkOptionHead("object qom-type", v["qom-type"] as string);
  checkId("object", v.id as string);
  checkJsonValues(`object "${v.id}"`, v);
  return structuredClone(v) as ObjectDescription;
}

function checkJsonValues(field: string, value: unknown): void {
  if (typeof value === "string") checkString(field, value);
  else if (Array.isArray(value)) value.forEach((item) => checkJsonValues(field, item));
  else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) checkJsonValues(`${field} ${key}`, item);
  } else if (
    typeof value !== "number" && typeof value !== "boolean" && value !== null
  ) {
    throw new TypeError(`Cannot set ${field} to ${String(value)}: not a JSON value`);
  }
}

/** A `-global` default: a property of every device of a driver. */
export interface GlobalProperty {
  /** Driver, such as `"virtio-pci"`. */
  driver: string;
  /** Property, such as `"iommu_platform"`. */
  property: string;
  /** Value, such as `"on"`. */
  value: string;
}

/** Checks one `.global(driver, property, value)`. */
export function parseGlobal(value: unknown): GlobalProperty {
  const v = checkRecord("global", value, ["driver", "property", "value"]);
  if (
    typeof v.driver === "string" && /[.=]/.test(v.driver) && v.property === undefined
  ) {
    const [, driver, property, text] = /^([^.]*)\.?([^=]*)=?(.*)$/.exec(v.driver)!;
    throw new TypeError(
      `Cannot set global ${
        JSON.stringify(v.driver)
      }: give driver, property and value apart: .global(${JSON.stringify(driver)}, ${
        JSON.stringify(property)
      }, ${JSON.stringify(text)})`,
    );
  }
  checkOptionHead("global driver", v.driver as string);
  checkOptionHead("global property", v.property as string);
  const text = checkString("global value", v.value);
  escapeOptionValue(`global ${v.driver}.${v.property}`, text);
  return { driver: v.driver as string, property: v.property as string, value: text };
}

/** Checks a UUID (`-uuid`, SMBIOS type 1). */
export function parseUuid(uuid: unknown): string {
  if (typeof uuid !== "string" || !UUID.test(uuid)) {
    throw new TypeError(
      `Cannot set uuid ${JSON.stringify(uuid)}: use the form 01234567-89ab-cdef-0123-456789abcdef`,
    );
  }
  return uuid;
}

/** Checks the user name of `.runAs(user)`: a POSIX user name. */
export function parseUser(user: unknown): string {
  if (typeof user !== "string" || !/^[a-z_][a-z0-9_-]{0,31}\$?$/i.test(user)) {
    throw new TypeError(`Cannot run QEMU as user ${JSON.stringify(user)}: not a user name`);
  }
  return user;
}
