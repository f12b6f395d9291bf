/**
 * The pvpanic device: a guest kernel panic reaches QMP as `GUEST_PANICKED`.
 *
 * @module
 */

import type { DeviceKind } from "./_kind.ts";

/** A pvpanic device (`.pvpanic()`). */
export interface PvpanicDevice {
  /** The kind of this description: `"pvpanic"`. */
  kind: "pvpanic";
}

/** The pvpanic kind: ISA on x86_64, PCI elsewhere; s390x has none. */
export const pvpanicKind: DeviceKind<PvpanicDevice> = {
  keys: [],
  single: true,
  parse(_v, _field, arch) {
    if (arch.pvpanic === "none") {
      throw new TypeError(`Cannot add pvpanic: QEMU has no pvpanic device for ${arch.arch}`);
    }
    return { kind: "pvpanic" };
  },
  plan(_device, ctx) {
    return [{
      kind: "device",
      args: { driver: ctx.arch.pvpanic === "isa" ? "pvpanic" : "pvpanic-pci" },
    }];
  },
};
