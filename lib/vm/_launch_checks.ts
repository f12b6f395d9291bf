// What `launch()` checks before it makes anything: that the description can be launched at all,
// the host files it needs, its devices' own host checks, the formats of its drives, and that its
// extra QMP sockets are free.

import { checkInputFile } from "./_checks.ts";
import { checkImageFormat, type ImageFormat } from "./image_format.ts";
import type { VmSpec } from "./spec.ts";
import { pathExists } from "../_fs.ts";

/**
 * Refuses a description `launch()` cannot start, or whose host files are missing (each error
 * says what to do), then runs the devices' own host checks.
 */
export async function checkLaunchInputs(builder: VmSpec): Promise<void> {
  const unlaunchable = builder.unlaunchable;
  if (unlaunchable !== undefined) throw new TypeError(`Cannot launch VM: ${unlaunchable}`);
  for (const { what, path, hint, expect } of builder.inputFiles) {
    await checkInputFile(`Cannot launch VM: ${what} "${path}"`, path, hint, expect);
  }
  await builder.preflightDevices();
  const kernel = builder.inputFiles.find((file) => file.what === "kernel");
  if (builder.uefiFirmware && kernel !== undefined && await isElf(kernel.path)) {
    throw new TypeError(
      `Cannot launch VM: kernel "${kernel.path}" is an ELF image (vmlinux), which UEFI firmware cannot start; give its bzImage or Image (vmlinuz), or boot without UEFI firmware`,
    );
  }
}

async function isElf(path: string): Promise<boolean> {
  using file = await Deno.open(path);
  const head = new Uint8Array(4);
  const n = await file.read(head);
  return n === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/**
 * The format of each drive, by id. Formats are read from the files (never left to QEMU to
 * probe), and a qcow2 given as such is still checked for a backing file QEMU would have to probe.
 */
export async function readDriveFormats(builder: VmSpec): Promise<Record<string, ImageFormat>> {
  const driveFormats: Record<string, ImageFormat> = {};
  for (const drive of builder.drives) {
    driveFormats[drive.id] = await checkImageFormat(
      `Cannot launch VM: drive "${drive.id}"`,
      drive.file,
      drive.format,
    );
  }
  return driveFormats;
}

/** Refuses an extra QMP socket whose path exists already: another VM may be using it. */
export async function checkQmpSocketsFree(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    if (await pathExists(path)) {
      throw new Deno.errors.AlreadyExists(
        `Cannot launch VM with QMP socket "${path}": it already exists (another VM may be using it; remove it if not)`,
      );
    }
  }
}
