// Checks of a disk description: its fields, and the combinations QEMU refuses or turns into
// something else than was asked (a write-back cache on a "write-through" USB disk, a cut serial).
// `disk.ts` exports `parseDrive` and `driveInterface`.

import { checkId, checkPath } from "../_checks.ts";
import {
  checkInteger,
  checkRecord,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalString,
} from "../_validate.ts";
import { writeCacheOff } from "./_blockdev.ts";
import type { DiskInterface, DriveDescription } from "./disk.ts";

/** The keys a disk description takes. */
const KEYS = [
  "file",
  "id",
  "format",
  "media",
  "interface",
  "readOnly",
  "snapshot",
  "cache",
  "aio",
  "discard",
  "detectZeroes",
  "iothread",
  "serial",
  "bootIndex",
] as const;

/**
 * Checks a disk description.
 *
 * @param value The description.
 * @param field Names its fields in errors.
 * @param defaultId The id when none is given.
 * @returns The checked description.
 */
export function parseDrive(value: unknown, field: Field, defaultId: string): DriveDescription {
  const v = checkRecord(field("options"), value, KEYS);
  const file = checkPath(field("file"), v.file as string);
  const media = optionalEnum(field("media"), v.media, ["disk", "cdrom"]);
  const drive: DriveDescription = defined({
    file,
    id: checkId("drive", (v.id ?? defaultId) as string),
    format: optionalEnum(field("format"), v.format, ["raw", "qcow2"]),
    media,
    interface: optionalEnum(field("interface"), v.interface, [
      "virtio-blk",
      "scsi",
      "nvme",
      "ide",
      "usb",
    ]),
    readOnly: optionalBoolean(field("readOnly"), v.readOnly),
    snapshot: optionalBoolean(field("snapshot"), v.snapshot),
    cache: optionalEnum(field("cache"), v.cache, [
      "none",
      "writeback",
      "writethrough",
      "directsync",
      "unsafe",
    ]),
    aio: optionalEnum(field("aio"), v.aio, ["threads", "native", "io_uring"]),
    discard: optionalBoolean(field("discard"), v.discard),
    detectZeroes: optionalEnum(field("detectZeroes"), v.detectZeroes, ["off", "on", "unmap"]),
    iothread: optionalBoolean(field("iothread"), v.iothread),
    serial: optionalString(field("serial"), v.serial),
    bootIndex: v.bootIndex === undefined
      ? undefined
      : checkInteger(field("bootIndex"), v.bootIndex, 0, 1000),
  });
  checkDriveCombination(drive);
  return drive;
}

/** The longest serial each interface passes whole to the guest: QEMU cuts longer ones. */
const SERIAL_LENGTH: Readonly<Record<DiskInterface, number>> = {
  "virtio-blk": 20,
  scsi: 36,
  nvme: 20,
  ide: 20,
  // A USB string descriptor's length is one byte: 2 + 2 per character.
  usb: 126,
};

/** Refuses options that cannot go together, or that a drive's interface cannot have. */
function checkDriveCombination(drive: DriveDescription): void {
  const name = `drive "${drive.file}"`;
  if (drive.aio === "native" && drive.cache !== "none" && drive.cache !== "directsync") {
    throw new RangeError(
      `Cannot add ${name} with aio "native": it needs cache "none" or "directsync"`,
    );
  }
  const iface = driveInterface(drive);
  const on = `interface "${iface}"`;
  if (drive.iothread && iface !== "virtio-blk") {
    throw new TypeError(
      `Cannot add ${name} with iothread on ${on}: only "virtio-blk" drives have an iothread here`,
    );
  }
  const cdrom = drive.media === "cdrom";
  if (cdrom) {
    if (iface !== "scsi" && iface !== "ide") {
      throw new TypeError(
        `Cannot add ${name} as media "cdrom" on ${on}: CD-ROMs attach on "scsi" (default) or "ide"`,
      );
    }
    if (drive.readOnly === false) {
      throw new TypeError(
        `Cannot add ${name} as media "cdrom" with readOnly false: a CD-ROM is read-only`,
      );
    }
  }
  if (drive.readOnly && iface === "ide" && !cdrom) {
    throw new TypeError(
      `Cannot add ${name} with readOnly on ${on}: QEMU's IDE hard disks cannot be read-only; use media "cdrom", or another interface`,
    );
  }
  if (iface === "usb" && writeCacheOff(drive.cache) && !drive.snapshot) {
    // usb-storage takes write-cache=off, but the SCSI disk it makes inside turns the node's
    // write cache back on (query-block shows writeback: true): the guest would get a write-back
    // disk that it was promised is write-through.
    throw new TypeError(
      `Cannot add ${name} with cache "${drive.cache}" on ${on}: QEMU's usb-storage turns the write cache back on; use cache "none" or "writeback", or another interface`,
    );
  }
  const readOnly = cdrom ? `media "cdrom"` : drive.readOnly ? "readOnly" : undefined;
  if (readOnly !== undefined) {
    if (drive.discard) {
      throw new TypeError(
        `Cannot add ${name} with discard and ${readOnly}: a read-only drive is never written, so nothing is discarded`,
      );
    }
    if (drive.detectZeroes !== undefined && drive.detectZeroes !== "off") {
      throw new TypeError(
        `Cannot add ${name} with detectZeroes "${drive.detectZeroes}" and ${readOnly}: a read-only drive is never written`,
      );
    }
  }
  if (drive.detectZeroes === "unmap" && !drive.discard) {
    throw new TypeError(
      `Cannot add ${name} with detectZeroes "unmap" without discard: "unmap" frees clusters by discarding them; add discard: true, or use "on"`,
    );
  }
  if (drive.serial !== undefined) {
    const serial = `serial ${JSON.stringify(drive.serial)}`;
    if (!/^[\x20-\x7e]+$/.test(drive.serial)) {
      throw new TypeError(`Cannot add ${name} with ${serial}: use printable ASCII characters`);
    }
    const max = SERIAL_LENGTH[iface];
    if (drive.serial.length > max) {
      throw new RangeError(
        `Cannot add ${name} with ${serial} on ${on}: it is ${drive.serial.length} characters, and the guest sees at most ${max} (QEMU cuts the rest)`,
      );
    }
  }
}

/** The interface a drive uses. */
export function driveInterface(drive: DriveDescription): DiskInterface {
  return drive.interface ?? (drive.media === "cdrom" ? "scsi" : "virtio-blk");
}
