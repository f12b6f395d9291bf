/**
 * The virtio entropy device, fed from a host source.
 *
 * @module
 */

import { checkPath } from "../_checks.ts";
import { defined, type Field, optionalInteger } from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import type { DeviceKind } from "./_kind.ts";

/** A virtio-rng device (`.rng()`). */
export interface RngDevice {
  /** The kind of this description: `"rng"`. */
  kind: "rng";
  /** Host entropy source. Default `/dev/urandom`. */
  source?: string;
  /** Rate limit: at most this many bytes per `period`. */
  maxBytes?: number;
  /** Rate limit period in ms (with `maxBytes`). Default 1000. */
  period?: number;
}

/** The virtio-rng kind. */
export const rngKind: DeviceKind<RngDevice> = {
  keys: ["source", "maxBytes", "period"],
  single: true,
  early: true,
  parse(v, field: Field) {
    const device: RngDevice = defined({
      kind: "rng" as const,
      source: v.source === undefined ? undefined : checkPath(field("source"), v.source as string),
      maxBytes: optionalInteger(field("maxBytes"), v.maxBytes, 1, 2 ** 31),
      period: optionalInteger(field("period"), v.period, 1, 2 ** 31),
    });
    if (device.period !== undefined && device.maxBytes === undefined) {
      throw new TypeError(`Cannot set ${field("period")} without ${field("maxBytes")}`);
    }
    return device;
  },
  plan(device, ctx) {
    return [
      {
        kind: "object",
        args: {
          "qom-type": "rng-random",
          id: "vmkit-rng",
          filename: device.source ?? "/dev/urandom",
        },
      },
      {
        kind: "device",
        args: defined({
          driver: virtioDriver(ctx.transport, "rng"),
          id: "vmkit-rng",
          rng: "vmkit-rng",
          "max-bytes": device.maxBytes,
          period: device.maxBytes === undefined ? undefined : device.period ?? 1000,
        }),
      },
    ];
  },
  inputs: (device) => [{ what: "rng source", path: device.source ?? "/dev/urandom" }],
};
