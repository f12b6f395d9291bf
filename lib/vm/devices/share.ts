/**
 * Host directories shared with the guest: over virtio-9p, served by QEMU itself, or over
 * virtiofs, served by a virtiofsd the user runs.
 *
 * @module
 */

import { checkId, checkPath, checkSocketPath } from "../_checks.ts";
import {
  checkString,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalInteger,
} from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import { optionList } from "../qemu_opts.ts";
import type { DeviceKind } from "./_kind.ts";
import { busOf } from "./_plan.ts";
import { chardevStep } from "./chardev.ts";

/**
 * How QEMU's 9p server maps the guest's file owners and modes to the host's:
 *
 * - `"none"`: files keep the host's owner and mode; a file the guest creates gets the mode the
 *   guest asked for and belongs to the user running QEMU, since changing its owner is tried and
 *   a refusal ignored. The default.
 * - `"passthrough"`: the guest's owner is set on the host file, so a guest user's files belong
 *   to the host user of the same uid; QEMU must run as root, else creating a file owned by
 *   anyone but QEMU's user fails.
 * - `"mapped-xattr"`: host files belong to QEMU's user with mode 0600 (directories 0700); the
 *   guest's owner and mode live in `user.virtfs.*` extended attributes (the host filesystem
 *   must have them).
 * - `"mapped-file"`: the same, kept in `.virtfs_metadata` files beside them.
 */
export type NinePSecurityModel = "none" | "passthrough" | "mapped-xattr" | "mapped-file";

/**
 * A host directory shared over virtio-9p (`.device({ kind: "9p", path, tag })`). The guest
 * mounts it with `mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt` (kernel modules `9p`
 * and `9pnet_virtio`). QEMU has no QMP command to add a 9p backend, so a share is added at boot
 * only.
 */
export interface NinePDevice {
  /** The kind of this description: `"9p"`. */
  kind: "9p";
  /** The host directory. It must exist when the VM starts. */
  path: string;
  /** The name the guest mounts it by: up to 31 letters, digits, `_`, `.` and `-`. */
  tag: string;
  /**
   * How guest owners and modes map to the host's. Default `"none"`: the guest reads and writes
   * what the user running QEMU may, and the files it creates belong to that user on the host,
   * with the modes the guest gave them; the guest's `chown` changes nothing (unless QEMU runs as
   * root). See {@linkcode NinePSecurityModel}.
   */
  securityModel?: NinePSecurityModel;
  /** The guest can read but not write it (`EROFS`). Default `false`. */
  readOnly?: boolean;
  /** The id of the device and of its `-fsdev` backend. Default `share<N>`. */
  id?: string;
}

/**
 * A directory shared over virtiofs by a virtiofsd the user starts before the VM
 * (`.device({ kind: "virtiofs", socket, tag })`). The guest mounts it with
 * `mount -t virtiofs TAG /mnt` (kernel module `virtiofs`). virtiofsd maps guest memory, so the VM
 * needs a shared memory backend: `.memory(size, { backend: { type: "memfd", share: true } })`.
 */
export interface VirtiofsDevice {
  /** The kind of this description: `"virtiofs"`. */
  kind: "virtiofs";
  /** virtiofsd's unix socket (its `--socket-path`). It must exist when the VM starts. */
  socket: string;
  /** The name the guest mounts it by: up to 36 letters, digits, `_`, `.` and `-`. */
  tag: string;
  /** Entries of each request queue: a power of 2 up to 1024. QEMU's default is 128. */
  queueSize?: number;
  /** The id of the device; its chardev is `<id>-chr`. Default `virtiofs<N>`. */
  id?: string;
}

/** The longest virtio-9p mount tag: QEMU's `MAX_TAG_LEN` (32) less the final NUL. */
const MAX_9P_TAG = 31;
/** The longest virtiofs tag: the 36 bytes of `virtio_fs_config.tag`. */
const MAX_VIRTIOFS_TAG = 36;

/**
 * Checks a mount tag. QEMU takes any bytes, but the guest names the share by it in `mount`,
 * `/proc/mounts` and fstab, where blanks, commas and non-ASCII need care: vmkit takes the
 * characters every one of them reads as is.
 */
function checkTag(field: string, value: unknown, max: number, what: string): string {
  const tag = checkString(field, value);
  if (!/^[A-Za-z0-9_.-]+$/.test(tag)) {
    throw new TypeError(
      `Cannot set ${field} to ${
        JSON.stringify(tag)
      }: use letters, digits, "_", "." and "-" (the guest mounts the share by this name)`,
    );
  }
  if (tag.length > max) {
    throw new RangeError(
      `Cannot set ${field} to ${
        JSON.stringify(tag)
      }: it is ${tag.length} bytes, and QEMU's ${what} holds at most ${max}; use a shorter tag`,
    );
  }
  return tag;
}

/** The id of the `index`-th 9p share. */
function ninePId(device: NinePDevice, index: number): string {
  return device.id ?? `share${index}`;
}

/** The id of the `index`-th virtiofs device. */
function virtiofsId(device: VirtiofsDevice, index: number): string {
  return device.id ?? `virtiofs${index}`;
}

/** The 9p share kind. */
export const ninePKind: DeviceKind<NinePDevice> = {
  keys: ["path", "tag", "securityModel", "readOnly", "id"],
  parse(v, field: Field) {
    return defined({
      kind: "9p" as const,
      path: checkPath(field("path"), v.path as string),
      tag: checkTag(field("tag"), v.tag, MAX_9P_TAG, "mount_tag"),
      securityModel: optionalEnum(field("securityModel"), v.securityModel, [
        "none",
        "passthrough",
        "mapped-xattr",
        "mapped-file",
      ]),
      readOnly: optionalBoolean(field("readOnly"), v.readOnly),
      id: v.id === undefined ? undefined : checkId("9p share", v.id as string),
    });
  },
  plan(device, ctx, index) {
    const id = ninePId(device, index);
    return [
      {
        kind: "arg",
        argv: [
          "-fsdev",
          optionList("local", [
            ["id", id],
            ["path", device.path, `9p share "${device.tag}" path`],
            ["security_model", device.securityModel ?? "none"],
            ["readonly", device.readOnly ? true : undefined],
          ]),
        ],
        why: `9p share "${device.tag}" needs -fsdev, which QEMU 7.2 cannot add over QMP`,
      },
      {
        kind: "device",
        args: { driver: virtioDriver(ctx.transport, "9p"), id, fsdev: id, mount_tag: device.tag },
      },
    ];
  },
  // Tags are no ids to QEMU, but two shares with one tag would leave the guest one of them.
  ids: (device, index) => [ninePId(device, index)],
  unique: (device) => [`9p tag "${device.tag}"`],
  inputs: (device) => [{
    what: `9p share "${device.tag}"`,
    path: device.path,
    expect: "directory",
    hint: "share a directory that exists",
  }],
};

/** The virtiofs kind. */
export const virtiofsKind: DeviceKind<VirtiofsDevice> = {
  keys: ["socket", "tag", "queueSize", "id"],
  parse(v, field: Field) {
    const queueSize = optionalInteger(field("queueSize"), v.queueSize, 1, 1024);
    if (queueSize !== undefined && (queueSize & (queueSize - 1)) !== 0) {
      throw new RangeError(
        `Cannot set ${field("queueSize")} to ${queueSize}: use a power of 2 from 1 to 1024`,
      );
    }
    return defined({
      kind: "virtiofs" as const,
      socket: checkSocketPath(field("socket"), v.socket as string),
      tag: checkTag(field("tag"), v.tag, MAX_VIRTIOFS_TAG, "virtiofs tag"),
      queueSize,
      id: v.id === undefined ? undefined : checkId("virtiofs", v.id as string),
    });
  },
  plan(device, ctx, index) {
    const id = virtiofsId(device, index);
    if (!ctx.sharedMemory) {
      throw new TypeError(
        `Cannot add virtiofs device "${id}" (tag "${device.tag}"): virtiofsd maps guest memory, and the VM has no shared memory backend; use .memory(size, { backend: { type: "memfd", share: true } })`,
      );
    }
    const transport = ctx.transport === "mmio" ? "device" : ctx.transport;
    return [
      chardevStep(`${id}-chr`, { backend: "socket", path: device.socket, server: false }),
      {
        kind: "device",
        args: defined({
          driver: `vhost-user-fs-${transport}`,
          id,
          chardev: `${id}-chr`,
          tag: device.tag,
          "queue-size": device.queueSize,
          ...busOf(ctx),
        }),
      },
    ];
  },
  ids: (device, index) => {
    const id = virtiofsId(device, index);
    return [id, `${id}-chr`];
  },
  unique: (device) => [`virtiofs tag "${device.tag}"`],
  inputs: (device) => [{
    what: `virtiofs socket of tag "${device.tag}"`,
    path: device.socket,
    expect: "any",
    hint:
      `start virtiofsd first, as root: /usr/lib/qemu/virtiofsd --socket-path=${device.socket} -o source=DIR (Debian 12 has no virtiofsd package; that one is QEMU's, in qemu-system-common)`,
  }],
};
