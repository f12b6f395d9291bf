/**
 * Guest memory dumps and screen captures of a running VM.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { QmpError, QmpTimeoutError } from "../qmp/errors.ts";
import { checkPath } from "./_checks.ts";

/** Options of `Vm.dumpGuestMemory`. */
export interface DumpOptions extends WaitOptions {
  /** `elf` (default; readable by gdb and crash) or a compressed kdump format. */
  format?: "elf" | "kdump-zlib" | "kdump-lzo" | "kdump-snappy";
}

/** Options of `Vm.screendump`. */
export interface ScreendumpOptions extends WaitOptions {
  /** Image format. Default `"png"`. */
  format?: "png" | "ppm";
}

async function absoluteTarget(action: string, path: string): Promise<string> {
  checkPath(action, path);
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const dir = absolute.slice(0, absolute.lastIndexOf("/")) || "/";
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Deno.errors.NotFound(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot ${action} to "${path}": directory "${dir}" does not exist`,
      );
    }
    throw error;
  }
  return absolute;
}

/**
 * Writes the guest's memory to a file (QEMU writes it), and waits for `DUMP_COMPLETED`.
 *
 * @returns Bytes of guest memory dumped.
 */
export async function dumpGuestMemory(
  qmp: QmpClient,
  path: string,
  options: DumpOptions = {},
): Promise<number> {
  checkTimeout("dump guest memory", options.timeout);
  const format = options.format ?? "elf";
  if (!["elf", "kdump-zlib", "kdump-lzo", "kdump-snappy"].includes(format)) {
    throw new TypeError(
      `Cannot dump guest memory as ${
        JSON.stringify(format)
      }: use "elf", "kdump-zlib", "kdump-lzo" or "kdump-snappy"`,
    );
  }
  const file = await absoluteTarget("dump guest memory", path);
  const timeout = options.timeout ?? 120_000;
  const { event } = await qmp.executeAndWait("dump-guest-memory", {
    paging: false,
    protocol: `file:${file}`,
    detach: true,
    format,
  }, { event: "DUMP_COMPLETED", timeout, signal: options.signal }).catch((error) => {
    if (error instanceof QmpTimeoutError) {
      throw new QmpTimeoutError(`memory dump to "${path}" to complete`, timeout);
    }
    throw error;
  });
  if (event.data.error !== undefined) {
    throw new Error(`Cannot dump guest memory to "${path}": ${event.data.error}`);
  }
  return event.data.result.completed;
}

/**
 * Saves what the VM's display shows to an image file.
 *
 * @throws {TypeError} When the VM has no display adapter (build it with `.vga()`).
 */
export async function screendump(
  qmp: QmpClient,
  path: string,
  options: ScreendumpOptions = {},
): Promise<void> {
  checkTimeout("take a screendump", options.timeout);
  const format = options.format ?? "png";
  if (format !== "png" && format !== "ppm") {
    throw new TypeError(
      `Cannot take a screendump as ${JSON.stringify(format)}: use "png" or "ppm"`,
    );
  }
  const filename = await absoluteTarget("take a screendump", path);
  try {
    await qmp.execute("screendump", { filename, format }, options);
  } catch (error) {
    if (error instanceof QmpError && /no (QemuConsole|surface)|console/i.test(error.desc)) {
      throw new TypeError(
        `Cannot take a screendump: the VM has no display adapter; build it with .vga() (${error.desc})`,
        { cause: error },
      );
    }
    throw error;
  }
}
