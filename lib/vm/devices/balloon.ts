/**
 * The virtio memory balloon.
 *
 * @module
 */

import { defined, type Field, optionalBoolean } from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import type { DeviceKind } from "./_kind.ts";

/** A virtio balloon (`.balloon()`): `Vm` can shrink and grow the guest's memory. */
export interface BalloonDevice {
  /** The kind of this description: `"balloon"`. */
  kind: "balloon";
  /** Let the guest deflate the balloon when it runs out of memory. */
  deflateOnOom?: boolean;
  /** The guest reports free pages, which the host reclaims. */
  freePageReporting?: boolean;
}

/** The balloon kind. */
export const balloonKind: DeviceKind<BalloonDevice> = {
  keys: ["deflateOnOom", "freePageReporting"],
  single: true,
  early: true,
  parse(v, field: Field) {
    return defined({
      kind: "balloon" as const,
      deflateOnOom: optionalBoolean(field("deflateOnOom"), v.deflateOnOom),
      freePageReporting: optionalBoolean(field("freePageReporting"), v.freePageReporting),
    });
  },
  plan(device, ctx) {
    return [{
      kind: "device",
      args: defined({
        driver: virtioDriver(ctx.transport, "balloon"),
        id: "vmkit-balloon",
        "deflate-on-oom": device.deflateOnOom,
        "free-page-reporting": device.freePageReporting,
      }),
    }];
  },
};
