/**
 * vhost-user block devices: a disk served by another process (qemu-storage-daemon, SPDK) over
 * a unix socket, which reads and writes guest memory directly.
 *
 * @module
 */

import { checkId, checkSocketPath } from "../_checks.ts";
import { defined, type Field, optionalInteger } from "../_validate.ts";
import { chardevStep } from "./chardev.ts";
import type { DeviceKind } from "./_kind.ts";
import { busOf } from "./_plan.ts";

/** A disk served by a vhost-user-blk backend on a unix socket. Needs shared guest memory. */
export interface VhostUserBlkDevice {
  /** The kind of this description: `"vhost-user-blk"`. */
  kind: "vhost-user-blk";
  /** The backend's unix socket; QEMU connects to it, so the backend must be listening. */
  socket: string;
  /** Request queues (at most what the backend offers); default QEMU's, one per vCPU. */
  numQueues?: number;
  /** Boot order among the bootable devices (0 boots first). */
  bootIndex?: number;
  /** Device id; its chardev is `<id>-chr`. Default `vhost-user-blk<N>`. */
  id?: string;
}

function vhostUserBlkId(device: VhostUserBlkDevice, index: number): string {
  return device.id ?? `vhost-user-blk${index}`;
}

/** The vhost-user-blk kind. */
export const vhostUserBlkKind: DeviceKind<VhostUserBlkDevice> = {
  keys: ["socket", "numQueues", "bootIndex", "id"],
  parse(v, field: Field) {
    return defined({
      kind: "vhost-user-blk" as const,
      socket: checkSocketPath(field("socket"), v.socket as string),
      // VIRTIO_QUEUE_MAX
      numQueues: optionalInteger(field("numQueues"), v.numQueues, 1, 1024),
      bootIndex: optionalInteger(field("bootIndex"), v.bootIndex, 0, 1000),
      id: v.id === undefined ? undefined : checkId("vhost-user-blk", v.id as string),
    });
  },
  plan(device, ctx, index) {
    const id = vhostUserBlkId(device, index);
    if (ctx.transport === "ccw") {
      throw new TypeError(
        `Cannot add vhost-user-blk device "${id}": QEMU 7.2 has no vhost-user-blk for channel I/O (machine "${ctx.machine}")`,
      );
    }
    if (!ctx.sharedMemory) {
      throw new TypeError(
        `Cannot add vhost-user-blk device "${id}": its backend maps guest memory, and the VM has no shared memory backend; use .memory(size, { backend: { type: "memfd", share: true } })`,
      );
    }
    return [
      chardevStep(`${id}-chr`, { backend: "socket", path: device.socket, server: false }),
      {
        kind: "device",
        args: defined({
          driver: ctx.transport === "mmio" ? "vhost-user-blk" : "vhost-user-blk-pci",
          id,
          chardev: `${id}-chr`,
          "num-queues": device.numQueues,
          bootindex: device.bootIndex,
          ...busOf(ctx),
        }),
      },
    ];
  },
  ids: (device, index) => {
    const id = vhostUserBlkId(device, index);
    return [id, `${id}-chr`];
  },
  inputs: (device) => [{
    what: "vhost-user-blk socket",
    path: device.socket,
    expect: "any",
    hint:
      `start the backend first, such as qemu-storage-daemon (Debian's qemu-system-common): qemu-storage-daemon --blockdev driver=file,node-name=disk,filename=IMAGE --export type=vhost-user-blk,id=disk,node-name=disk,addr.type=unix,addr.path=${device.socket},writable=on`,
  }],
};
