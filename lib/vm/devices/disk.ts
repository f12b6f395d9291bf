/**
 * Disks: an image file attached through virtio-blk, virtio-scsi, NVMe, IDE/AHCI or USB, as a
 * hard disk or a CD-ROM.
 *
 * @module
 */

import type { ImageFormat } from "../image_format.ts";
import { optionList } from "../qemu_opts.ts";
import { defined } from "../_validate.ts";
import {
  type AioMode,
  blockdevOptions,
  type CacheMode,
  type DetectZeroes,
  writeCacheOff,
} from "./_blockdev.ts";
import { busOf, type DeviceArgs, type PlanContext, type Step } from "./_plan.ts";
import { isPcie, virtioDriver } from "../machine.ts";
import { driveInterface } from "./_disk_checks.ts";

export type { AioMode, CacheMode, DetectZeroes };
export { driveInterface, parseDrive } from "./_disk_checks.ts";

/** How the guest sees a disk. */
export type DiskInterface = "virtio-blk" | "scsi" | "nvme" | "ide" | "usb";

/**
 * A disk, as `.drive()` takes it and a JSON description holds it.
 *
 * What each interface can do (QEMU 7.2), and what a guest needs to see it:
 *
 * | interface | device | cdrom | readOnly | serial (max) | guest driver |
 * | --- | --- | --- | --- | --- | --- |
 * | `virtio-blk` | virtio-blk | no | yes | 20 | virtio_blk |
 * | `scsi` | scsi-hd/-cd on one virtio-scsi | yes | yes | 36 | virtio_scsi, sd_mod, sr_mod |
 * | `nvme` | one nvme controller each | no | writes fail (I/O error) | 20 | nvme |
 * | `ide` | ide-hd/-cd: x86_64 pc/q35 buses, else an ich9-ahci | yes | cdrom only | 20 | ata_piix (pc), ahci |
 * | `usb` | usb-storage on one qemu-xhci | no | yes | 126 | xhci_pci, usb_storage, sd_mod |
 *
 * NVMe, IDE and USB need PCI: s390x and microvm have none of them.
 */
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
  /**
   * Attach read-only. An IDE hard disk cannot be (QEMU refuses); an NVMe disk looks writable to
   * the guest, and its writes fail.
   */
  readOnly?: boolean;
  /** Write to a temporary overlay, discarded on exit (`-drive snapshot=on`). */
  snapshot?: boolean;
  /**
   * Host cache mode. `writethrough` and `directsync` make the guest see a write-through disk
   * (`write-cache=off`), except on NVMe, which always says it has a cache (QEMU then flushes
   * after every write); `usb` cannot have them (QEMU's usb-storage turns the cache back on).
   */
  cache?: CacheMode;
  /** Host I/O engine; `native` needs `cache` `none` or `directsync`. */
  aio?: AioMode;
  /** Pass the guest's discards (TRIM, UNMAP, deallocate) down to the image file. */
  discard?: boolean;
  /**
   * Turn written zeroes into zero clusters; `"unmap"` also frees them (needs `discard`). Not
   * on a read-only drive.
   */
  detectZeroes?: DetectZeroes;
  /** Run the disk's I/O in its own iothread (virtio-blk only). */
  iothread?: boolean;
  /**
   * Serial number the guest sees: printable ASCII, at most 20 characters (36 on `scsi`, 126 on
   * `usb`). Default: QEMU's (none on virtio-blk and SCSI; the id on NVMe, which needs one).
   */
  serial?: string;
  /** Boot order among bootable devices, lowest first (firmware boots only). */
  bootIndex?: number;
}

/** Options of `VmBuilder.drive`: a {@linkcode DriveDescription} without the file. */
export type DriveOptions = Partial<Omit<DriveDescription, "file">>;

/**
 * Why a machine cannot have a drive's interface, if it cannot: NVMe, AHCI and xHCI are PCI
 * devices, which s390x's QEMU does not have and microvm has no bus for.
 */
function unsupported(iface: DiskInterface, ctx: PlanContext): string | undefined {
  if (iface !== "nvme" && iface !== "ide" && iface !== "usb") return undefined;
  if (ctx.arch.arch === "s390x") {
    return `QEMU for s390x has no NVMe, IDE or USB controller; use "virtio-blk" or "scsi"`;
  }
  if (ctx.machine.startsWith("microvm")) {
    return `machine "${ctx.machine}" has no PCI bus, which NVMe, IDE (ich9-ahci) and USB (qemu-xhci) controllers need; use "virtio-blk" or "scsi"`;
  }
  return undefined;
}

/** The controller a drive needs, if any, keyed by its id so it is added once. */
function controller(iface: DiskInterface, ctx: PlanContext): DeviceArgs | undefined {
  switch (iface) {
    case "scsi":
      return { driver: virtioDriver(ctx.transport, "scsi"), id: "vmkit-scsi" };
    case "usb":
      return { driver: "qemu-xhci", id: "vmkit-xhci" };
    case "ide":
      return ideLayout(ctx).controller;
    default:
      return undefined;
  }
}

/** Where a machine's IDE drives go, and how many fit. */
interface IdeLayout {
  /** What the places are, for errors. */
  what: string;
  /** The number of places. */
  places: number;
  /** The controller vmkit adds, if the machine has none of its own. */
  controller?: DeviceArgs;
  /** The `bus` (and `unit`) of the n-th IDE drive. */
  place(n: number): Record<string, string | number>;
}

/**
 * The IDE places of a machine: q35's on-board AHCI has six ports, `ide.0` to `ide.5`; pc's PIIX
 * two buses, `ide.0` and `ide.1`, of two units each; other machines get an `ich9-ahci`
 * controller, with six ports.
 */
function ideLayout(ctx: PlanContext): IdeLayout {
  if (ctx.arch.arch !== "x86_64") {
    return {
      what: "the six ports of the ich9-ahci controller vmkit adds",
      places: 6,
      controller: { driver: "ich9-ahci", id: "vmkit-ahci" },
      place: (n) => ({ bus: `vmkit-ahci.${n}` }),
    };
  }
  if (isPcie(ctx.arch, ctx.machine)) {
    return {
      what: `the six ports (ide.0 to ide.5) of machine "${ctx.machine}"`,
      places: 6,
      place: (n) => ({ bus: `ide.${n}` }),
    };
  }
  return {
    what: `the two units of ide.0 and ide.1 of machine "${ctx.machine}"`,
    places: 4,
    place: (n) => ({ bus: `ide.${Math.floor(n / 2)}`, unit: n % 2 }),
  };
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

/** The guest device of a drive; `place` is its IDE bus and unit. */
function deviceArgs(
  drive: DriveDescription,
  ctx: PlanContext,
  place: Record<string, string | number> = {},
): DeviceArgs {
  const iface = driveInterface(drive);
  const cdrom = drive.media === "cdrom";
  const head = { drive: drive.id, id: drive.id };
  const tail = {
    serial: drive.serial,
    // A snapshot drive's -drive cache= sets the write cache itself.
    "write-cache": !drive.snapshot && writeCacheOff(drive.cache) ? "off" : undefined,
    bootindex: drive.bootIndex,
  };
  switch (iface) {
    case "virtio-blk":
      return defined({
        driver: virtioDriver(ctx.transport, "blk"),
        ...head,
        ...busOf(ctx),
        iothread: drive.iothread ? `${drive.id}-io` : undefined,
        ...tail,
      });
    case "scsi":
      return defined({
        driver: cdrom ? "scsi-cd" : "scsi-hd",
        ...head,
        bus: "vmkit-scsi.0",
        ...tail,
      });
    case "nvme":
      // QEMU refuses an NVMe controller without a serial, and keeps its first 20 characters.
      return defined({
        driver: "nvme",
        ...head,
        ...tail,
        serial: drive.serial ?? drive.id.slice(0, 20),
      });
    case "ide":
      return defined({ driver: cdrom ? "ide-cd" : "ide-hd", ...head, ...place, ...tail });
    case "usb":
      return defined({ driver: "usb-storage", ...head, bus: "vmkit-xhci.0", ...tail });
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
 * @throws {TypeError} For an interface the machine cannot have (NVMe, IDE or USB on s390x or
 *   microvm).
 * @throws {RangeError} For more IDE drives than the machine has places for.
 */
export function drivesPlan(
  drives: readonly DriveDescription[],
  formats: (drive: DriveDescription) => ImageFormat,
  ctx: PlanContext,
): Step[] {
  const steps: Step[] = [];
  const ide = ideLayout(ctx);
  let ideUsed = 0;
  for (const drive of drives) {
    const iface = driveInterface(drive);
    const reason = unsupported(iface, ctx);
    if (reason !== undefined) {
      throw new TypeError(`Cannot add drive "${drive.id}" on interface "${iface}": ${reason}`);
    }
    if (iface === "ide" && ideUsed === ide.places) {
      throw new RangeError(
        `Cannot add drive "${drive.id}" on interface "ide": ${ide.what} are all in use; use "scsi" (CD-ROMs too) or another interface`,
      );
    }
    steps.push(...nodeSteps(drive, formats(drive)));
    const control = controller(iface, ctx);
    if (control !== undefined) steps.push({ kind: "device", args: control });
    if (drive.iothread) steps.push({ kind: "object", args: iothread(`${drive.id}-io`) });
    const place = iface === "ide" ? ide.place(ideUsed++) : {};
    steps.push({ kind: "device", args: deviceArgs(drive, ctx, place) });
  }
  return steps;
}

/** The iothread object a drive with `iothread` runs its I/O in. */
function iothread(id: string): { "qom-type": "iothread"; id: string } {
  return { "qom-type": "iothread", id };
}

/**
 * The steps that hot-add one virtio-blk drive: its block node, then its device.
 *
 * @param drive The drive, with its format known.
 * @param ctx The machine, with the root port to use.
 * @returns The steps.
 * @throws {TypeError} For a drive on another interface.
 */
export function hotplugDrivePlan(
  drive: DriveDescription & { format: ImageFormat },
  ctx: PlanContext,
): Step[] {
  const iface = driveInterface(drive);
  if (iface !== "virtio-blk") {
    throw new TypeError(
      `Cannot hot-add drive "${drive.id}" on interface "${iface}": only "virtio-blk" disks are hot-added`,
    );
  }
  const steps = nodeSteps(drive, drive.format);
  if (drive.iothread) steps.push({ kind: "object", args: iothread(`${drive.id}-io`) });
  steps.push({ kind: "device", args: deviceArgs(drive, ctx) });
  return steps;
}
