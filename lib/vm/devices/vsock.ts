/**
 * Virtio vsock: sockets between host and guest addressed by context id (CID) instead of a
 * network, served by the host kernel's vhost-vsock.
 *
 * @module
 */

import type { Field } from "../_validate.ts";
import type { VirtioTransport } from "../arch.ts";
import type { DeviceKind } from "./_kind.ts";
import { busOf } from "./_plan.ts";

/**
 * A vsock device: the guest is reachable from the host at `cid` (`AF_VSOCK`), and reaches the
 * host at CID 2. Needs the host's `/dev/vhost-vsock` (module `vhost_vsock`).
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const builder = vm({ arch: "x86_64" }).device({ kind: "vsock", cid: 42 });
 * ```
 */
export interface VsockDevice {
  /** The kind of this description: `"vsock"`. */
  kind: "vsock";
  /**
   * The guest's context id, 3 to 4294967294 (0, 1 and 2 are the hypervisor, the local host
   * and the host; 4294967295 means any). Unique among the VMs running on the host.
   */
  cid: number;
}

/** The host's vhost-vsock device. */
export const VHOST_VSOCK_PATH = "/dev/vhost-vsock";

const RESERVED: Record<number, string> = {
  0: "CID 0 is the hypervisor's",
  1: "CID 1 is the local loopback's",
  2: "CID 2 is the host's",
};

const MAX_CID = 2 ** 32 - 2;

function checkCid(field: string, value: unknown): number {
  if (typeof value === "number" && Object.hasOwn(RESERVED, value)) {
    throw new RangeError(
      `Cannot set ${field} to ${value}: ${RESERVED[value]}; use a number from 3 to ${MAX_CID}`,
    );
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 3 || value > MAX_CID) {
    throw new RangeError(
      `Cannot set ${field} to ${
        typeof value === "string" ? JSON.stringify(value) : String(value)
      }: use a whole number from 3 to ${MAX_CID}${
        value === MAX_CID + 1 ? ` (${MAX_CID + 1} means any CID)` : ""
      }`,
    );
  }
  return value;
}

function vsockDriver(transport: VirtioTransport): string {
  return `vhost-vsock-${transport === "mmio" ? "device" : transport}`;
}

/** The vsock kind. */
export const vsockKind: DeviceKind<VsockDevice> = {
  keys: ["cid"],
  single: true,
  parse(v, field: Field) {
    if (v.cid === undefined) {
      throw new TypeError(
        `Cannot add vsock device: ${field("cid")} is missing; give the guest's CID, 3 or more`,
      );
    }
    return { kind: "vsock", cid: checkCid(field("cid"), v.cid) };
  },
  plan(device, ctx) {
    return [{
      kind: "device",
      args: {
        driver: vsockDriver(ctx.transport),
        id: "vmkit-vsock",
        "guest-cid": device.cid,
        ...busOf(ctx),
      },
    }];
  },
  // One per VM: a second in a JSON description clashes here.
  ids: () => ["vmkit-vsock"],
  inputs: () => [{
    what: "vsock host device",
    path: VHOST_VSOCK_PATH,
    hint: "load the vhost_vsock kernel module: modprobe vhost_vsock",
  }],
};
