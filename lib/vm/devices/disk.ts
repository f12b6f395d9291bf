/**
 * Disks: an image file attached through virtio-blk, virtio-scsi, NVMe, IDE/AHCI or USB, as a
 * hard disk or a CD-ROM.
 *
 * @module
 */

import type { ImageFormat } from "../image_format.ts";
import { checkId, checkPath } from "../_checks.ts";
import { escapeOptionValue, optionList } from "../qemu_opts.ts";
import {
  checkInteger,
  checkRecord,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalString,
} from "../_validate.ts";
import {
  type AioMode,
  blockdevOptions,
  type CacheMode,
  type DetectZeroes,
  writeCacheOff,
} from "./_blockdev.ts";
import type { DeviceArgs, PlanContext, Step } from "./_plan.ts";
import { virtioDriver } from "../machine.ts";

export type { AioMode, CacheMode, DetectZeroes };

/** How the guest sees a disk. */
export type DiskInterface = "virtio-blk" | "scsi" | "nvme" | "ide" | "usb";

/** A disk, as `.drive()` takes it and a JSON description holds it. */
export interface DriveDescription {
  /** Image file on the host. */
  file: string;
  /** Device id, also the block node name. */
  id: string;
  /**
   * Image format. Default: `launch()` reads it from the file ({@linkcode detectImageFormat}):
   * qcow2 by its magic, else raw; other formats, and qcow2 overlays without a recorded backing
   * format, are refused. `toArgv()` reads no file, so it needs the format given here (or in its
   * `driveFormats` option).
   */
  format?: ImageFormat;
  /** `"disk"` (default) or `"cdrom"` (read-only; on `scsi` by default, or `ide`). */
  media?: "disk" | "cdrom";
  /** Guest interface. Default `"virtio-blk"` for disks, `"scsi"` for CD-ROMs. */
  interface?: DiskInterface;
  /** Attach read-only. */
  readOnly?: boolean;
  /** Write to a temporary overlay, discarded on exit (`-drive snapshot=on`). */
  snapshot?: boolean;
  /** Host cache mode. */
  cache?: CacheMode;
  /** Host I/O engine; `native` needs `cache` `none` or `directsync`. */
  aio?: AioMode;
  /** Pass the guest's discards (TRIM) down to the image file. */
  discard?: boolean;
  /** Turn written zeroes into zero clusters; `"unmap"` also frees them (needs `discard`). */
  detectZeroes?: DetectZeroes;
  /** Run the disk's I/O in its own iothread (virtio-blk only). */
  iothread?: boolean;
  /** Serial number the guest sees (NVMe default: the id). */
  serial?: string;
  /** Boot order among bootable devices, lowest first (firmware boots only). */
  bootIndex?: number;
}

/** Options of `VmBuilder.drive`: a {@linkcode DriveDescription} without the file. */
export type DriveOptions = Partial<Omit<DriveDescription, "file">>;

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

function checkDriveCombination(drive: DriveDescription): void {
  const name = `drive "${drive.file}"`;
  if (drive.aio === "native" && drive.cache !== "none" && drive.cache !== "directsync") {
    throw new RangeError(
      `Cannot add ${name} with aio "native": it needs cache "none" or "directsync"`,
    );
  }
  const iface = driveInterface(drive);
  if (drive.iothread && iface !== "virtio-blk") {
    throw new TypeError(
      `Cannot add ${name} with an iothread: only virtio-blk has one here, not "${iface}"`,
    );
  }
  if (drive.media === "cdrom") {
    if (iface !== "scsi" && iface !== "ide") {
      throw new TypeError(
        `Cannot add ${name} as a cdrom on "${iface}": CD-ROMs attach on "scsi" (default) or "ide"`,
      );
    }
    if (drive.readOnly === false) {
      throw new TypeError(`Cannot add ${name} as a writable cdrom: a CD-ROM is read-only`);
    }
  }
  if (drive.detectZeroes === "unmap" && !drive.discard) {
    throw new TypeError(
      `Cannot add ${name} with detectZeroes "unmap": it needs discard: true (or use "on")`,
    );
  }
  if (drive.serial !== undefined) {
    escapeOptionValue("drive serial", drive.serial);
    if (iface === "nvme" && drive.serial.length > 20) {
      throw new RangeError(`Cannot add ${name}: an NVMe serial is at most 20 characters`);
    }
  }
}

/** The interface a drive uses. */
export function driveInterface(drive: DriveDescription): DiskInterface {
  return drive.interface ?? (drive.media === "cdrom" ? "scsi" : "virtio-blk");
}

/** The controller a drive needs, if any, keyed by its id so it is added once. */
function controller(iface: DiskInterface, ctx: PlanContext): DeviceArgs | undefined {
  switch (iface) {
    case "scsi":
      return { driver: virtioDriver(ctx.transport, "scsi"), id: "vmkit-scsi" };
    case "usb":
      return { driver: "qemu-xhci", id: "vmkit-xhci" };
    case "ide":
      return onBoardIde(ctx) ? undefined : { driver: "ich9-ahci", id: "vmkit-ahci" };
    default:
      return undefined;
  }
}

/** Whether the machine has IDE buses of its own (pc's PIIX, q35's AHCI). */
function onBoardIde(ctx: PlanContext): boolean {
  return ctx.arch.arch === "x86_64" && !ctx.machine.startsWith("microvm");
}

/** The IDE bus of the n-th IDE drive: one per AHCI port, two units per PIIX bus. */
function ideBus(ctx: PlanContext, n: number): Record<string, string | number> {
  if (!onBoardIde(ctx)) return { bus: `vmkit-ahci.${n}` };
  const piix = !(ctx.machine === "q35" || ctx.machine.startsWith("pc-q35"));
  return piix ? { bus: `ide.${Math.floor(n / 2)}`, unit: n % 2 } : { bus: `ide.${n}` };
}

/** The block node steps of a drive: `-blockdev`, or `-drive` for a snapshot drive. */
function nodeSteps(drive: DriveDescription, format: ImageFormat): Step[] {
  const readOnly = drive.readOnly ?? (drive.media === "cdrom" ? true : undefined);
  if (!drive.snapshot) {
    const args = blockdevOptions({ ...drive, format, readOnly });
    return [{ kind: "blockdev", args }];
  }
  // -blockdev has no temporary overlay: -drive makes one, and with an explicit format and
  // file.driver=file the path is still a plain file name, never a protocol.
  const option = optionList(undefined, [
    ["driver", format],
    ["file.driver", "file"],
    ["file.filename", drive.file, `drive "${drive.id}" file`],
    ["if", "none"],
    ["id", drive.id],
    ["readonly", readOnly],
    ["snapshot", true],
    ["cache", drive.cache],
    ["aio", drive.aio],
    ["discard", drive.discard ? "unmap" : undefined],
    ["detect-zeroes", drive.detectZeroes],
  ]);
  return [{
    kind: "arg",
    argv: ["-drive", option],
    why: `drive "${drive.id}" is a snapshot drive (-drive snapshot=on), which QMP cannot add`,
  }];
}

/** The guest device of a drive. */
function deviceArgs(
  drive: DriveDescription,
  ctx: PlanContext,
  ideIndex: number,
): DeviceArgs {
  const iface = driveInterface(drive);
  const writeCache = !drive.snapshot && writeCacheOff(drive.cache) ? "off" : undefined;
  const common = { drive: drive.id, id: drive.id };
  const cdrom = drive.media === "cdrom";
  const tail = { bootindex: drive.bootIndex };
  switch (iface) {
    case "virtio-blk":
      return defined({
        driver: virtioDriver(ctx.transport, "blk"),
        ...common,
        ...ctx.bus === undefined ? {} : { bus: ctx.bus },
        iothread: drive.iothread ? `${drive.id}-io` : undefined,
        serial: drive.serial,
        "write-cache": writeCache,
        ...tail,
      });
    case "scsi":
      return defined({
        driver: cdrom ? "scsi-cd" : "scsi-hd",
        ...common,
        bus: "vmkit-scsi.0",
        serial: drive.serial,
        "write-cache": writeCache,
        ...tail,
      });
    case "nvme":
      return defined({ driver: "nvme", ...common, serial: drive.serial ?? drive.id, ...tail });
    case "ide":
      return defined({
        driver: cdrom ? "ide-cd" : "ide-hd",
        ...common,
        ...ideBus(ctx, ideIndex),
        serial: drive.serial,
        "write-cache": writeCache,
        ...tail,
      });
    case "usb":
      return defined({ driver: "usb-storage", ...common, bus: "vmkit-xhci.0", ...tail });
  }
}

/**
 * The steps of the drives of a VM at boot, in order, with each controller added before its
 * first drive.
 *
 * @param drives The drives.
 * @param formats The format of each drive, by id.
 * @param ctx The machine.
 * @returns The steps.
 */
export function drivesPlan(
  drives: readonly DriveDescription[],
  formats: (drive: DriveDescription) => ImageFormat,
  ctx: PlanContext,
): Step[] {
  const steps: Step[] = [];
  let ide = 0;
  for (const drive of drives) {
    const iface = driveInterface(drive);
    if (iface === "ide" && ide >= (onBoardIde(ctx) && ctx.machine.startsWith("pc") ? 4 : 6)) {
      throw new RangeError(`Cannot add drive "${drive.id}": all IDE ports are in use`);
    }
    steps.push(...nodeSteps(drive, formats(drive)));
    const control = controller(iface, ctx);
    if (control !== undefined) steps.push({ kind: "device", args: control });
    if (drive.iothread) steps.push({ kind: "object", args: iothread(`${drive.id}-io`) });
    steps.push({ kind: "device", args: deviceArgs(drive, ctx, iface === "ide" ? ide++ : 0) });
  }
  return steps;
}

function iothread(id: string): { "qom-type": "iothread"; id: string } {
  return { "qom-type": "iothread", id };
}

/**
 * The steps that hot-add one virtio-blk drive: its block node, then its device.
 *
 * @param drive The drive, with its format known.
 * @param ctx The machine, with the root port to use.
 * @returns The steps.
 */
export function hotplugDrivePlan(
  drive: DriveDescription & { format: ImageFormat },
  ctx: PlanContext,
): Step[] {
  const steps = nodeSteps(drive, drive.format);
  if (drive.iothread) steps.push({ kind: "object", args: iothread(`${drive.id}-io`) });
  steps.push({ kind: "device", args: deviceArgs(drive, ctx, 0) });
  return steps;
}
