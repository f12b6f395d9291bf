/**
 * QEMU's generic loader: a file put into guest memory when the VM starts, and optionally a CPU
 * started at it.
 *
 * @module
 */

import { checkPath } from "../_checks.ts";
import { defined, type Field, optionalBoolean, optionalInteger } from "../_validate.ts";
import type { DeviceKind } from "./_kind.ts";

/**
 * A file loaded into guest memory at start (`-device loader`). An ELF, U-Boot or Intel HEX
 * file loads at the addresses it names; any other file (or any file with `forceRaw`) is copied
 * byte for byte to `addr` (guest physical; 0 when not given).
 */
export interface LoaderDevice {
  /** The kind of this description: `"loader"`. */
  kind: "loader";
  /** The file. */
  file: string;
  /** Guest physical address of a raw image (ignored for ELF, U-Boot and HEX files). */
  addr?: number;
  /**
   * Start this CPU (0 = the first) at the file's entry point (ELF, U-Boot) or at `addr`,
   * instead of where the machine would start it.
   */
  cpuNum?: number;
  /** Copy the file as it is, even when it is an ELF, U-Boot or HEX file. Needs `addr`. */
  forceRaw?: boolean;
}

/** The loader kind. */
export const loaderKind: DeviceKind<LoaderDevice> = {
  keys: ["file", "addr", "cpuNum", "forceRaw"],
  parse(v, field: Field) {
    const device = defined({
      kind: "loader" as const,
      file: checkPath(field("file"), v.file as string),
      addr: optionalInteger(field("addr"), v.addr, 0, Number.MAX_SAFE_INTEGER),
      cpuNum: optionalInteger(field("cpuNum"), v.cpuNum, 0, 4095),
      forceRaw: optionalBoolean(field("forceRaw"), v.forceRaw),
    });
    if (device.forceRaw && device.addr === undefined) {
      throw new TypeError(
        `Cannot set ${field("forceRaw")} without ${
          field("addr")
        }: a raw image needs the address to load it at`,
      );
    }
    return device;
  },
  plan(device) {
    const args = defined({
      driver: "loader",
      file: device.file,
      addr: device.addr,
      "cpu-num": device.cpuNum,
      "force-raw": device.forceRaw,
    });
    return [{
      kind: "arg",
      argv: ["-device", JSON.stringify(args)],
      why: `the generic loader writes "${device.file}" into guest memory only when QEMU starts`,
    }];
  },
  inputs: (device) => [{ what: "loader file", path: device.file }],
};
