// The kinds of the generic device list, in the order their devices appear on the command line.
// A new kind: one module exporting its description type and kind, one line in each list here.

import type { DeviceKind } from "./_kind.ts";
import { type RngDevice, rngKind } from "./rng.ts";
import { type BalloonDevice, balloonKind } from "./balloon.ts";
import { type DisplayDevice, displayKind } from "./display.ts";
import { type PvpanicDevice, pvpanicKind } from "./pvpanic.ts";
import { type NinePDevice, ninePKind, type VirtiofsDevice, virtiofsKind } from "./share.ts";

/** A device of the generic list, told apart by `kind`. */
export type Device =
  | RngDevice
  | BalloonDevice
  | DisplayDevice
  | PvpanicDevice
  | NinePDevice
  | VirtiofsDevice;

/** The kinds, by name. */
export const DEVICE_KINDS: {
  readonly [K in Device["kind"]]: DeviceKind<Extract<Device, { kind: K }>>;
} = {
  rng: rngKind,
  balloon: balloonKind,
  display: displayKind,
  pvpanic: pvpanicKind,
  "9p": ninePKind,
  virtiofs: virtiofsKind,
};

/** The kind of a device. */
export function kindOf<D extends Device>(device: D): DeviceKind<D> {
  return DEVICE_KINDS[device.kind] as unknown as DeviceKind<D>;
}
