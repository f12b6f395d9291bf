/**
 * Hot-adding and removing disks and network cards on a running VM, with the multi-step QMP
 * sequences done in order and undone on failure. CPUs and memory are hot-added by
 * `hotplug_cpu.ts` and `hotplug_memory.ts`, whose types are re-exported here.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { checkId, checkInputFile, checkPath } from "./_checks.ts";
import { checkImageFormat } from "./image_format.ts";
import { applyPlan } from "./devices/_plan.ts";
import { type DriveOptions, hotplugDrivePlan, parseDrive } from "./devices/disk.ts";
import { type NetworkDescription, networkPlan, parseNetwork } from "./devices/network.ts";
import { methodField } from "./_validate.ts";
import {
  deleteDevice,
  freeId,
  type HotplugContext,
  oneAtATime,
  takePort,
} from "./_hotplug_context.ts";

export type { AddCpuOptions, HotplugCpu, HotpluggableCpu } from "./hotplug_cpu.ts";
export type { AddMemoryOptions, HotplugMemory } from "./hotplug_memory.ts";

/** Options of `Vm.addDisk`: a virtio-blk disk described as for `VmBuilder.drive`. */
export interface AddDiskOptions extends
  WaitOptions,
  Pick<
    DriveOptions,
    "readOnly" | "serial" | "cache" | "aio" | "discard" | "detectZeroes" | "iothread"
  > {
  /**
   * Image format; default: read from the file ({@linkcode detectImageFormat}): `qcow2` when it
   * starts with qcow2's magic, else `raw`; other formats and qcow2 overlays without a recorded
   * backing format are refused.
   */
  format?: "raw" | "qcow2";
  /** Device id (also the block node name); default `disk<N>`. */
  id?: string;
}

/** A disk added by `Vm.addDisk`. */
export interface HotplugDisk {
  /** Device id, and block node name. */
  id: string;
  /** The image file. */
  file: string;
  /** Its format. */
  format: "raw" | "qcow2";
  /** The PCIe root port it sits in, on machines that use them. */
  port?: string;
}

/** Options of `Vm.addNic`. */
export interface AddNicOptions extends WaitOptions {
  /** Device id (also the netdev id); default `nic<N>`. */
  id?: string;
  /**
   * Backend, described as for `VmBuilder.network`: user-mode networking (default) with
   * forwards, a tap device, a bridge, a stream socket or vhost-user.
   */
  network?: NetworkDescription;
  /** MAC address, `xx:xx:xx:xx:xx:xx`. */
  mac?: string;
}

/** A network card added by `Vm.addNic`. */
export interface HotplugNic {
  /** Device id, and netdev id. */
  id: string;
  /** Its MAC address, as the guest sees it. */
  mac: string;
  /** The PCIe root port it sits in, on machines that use them. */
  port?: string;
}

/** Options of `Vm.removeDisk` and `Vm.removeNic`. */
export interface RemoveDeviceOptions extends WaitOptions {}

async function addDiskNow(
  ctx: HotplugContext,
  file: string,
  options: AddDiskOptions = {},
): Promise<HotplugDisk> {
  checkPath("disk file", file);
  checkTimeout(`add disk "${file}"`, options.timeout);
  const { timeout: _t, signal: _s, ...fields } = options;
  const described = parseDrive({ ...fields, file }, methodField("disk"), "disk0");
  await checkInputFile(`Cannot add disk: image "${file}"`, file);
  const format = await checkImageFormat(`Cannot add disk`, file, described.format);
  const id = options.id === undefined ? await freeId(ctx, "disk") : checkId("disk", options.id);
  const port = takePort(ctx, `add disk "${file}"`, id);
  const wait = { timeout: options.timeout ?? 10_000, signal: options.signal };
  try {
    const plan = hotplugDrivePlan({ ...described, id, format }, { ...ctx.plan, bus: port });
    await applyPlan(ctx.qmp, plan, wait);
  } catch (error) {
    if (port !== undefined) ctx.portUse.delete(port);
    throw error;
  }
  ctx.added.set(id, "disk");
  return port === undefined ? { id, file, format } : { id, file, format, port };
}

/** Removes a disk: `device_del`, waits for `DEVICE_DELETED`, then `blockdev-del`. */
export async function removeDisk(
  ctx: HotplugContext,
  id: string,
  options: RemoveDeviceOptions = {},
): Promise<void> {
  checkTimeout(`remove disk "${id}"`, options.timeout);
  const ours = ctx.added.get(id) === "disk";
  await deleteDevice(
    ctx,
    "disk",
    id,
    options,
    () =>
      ours
        ? ctx.qmp.execute("blockdev-del", { "node-name": id }, { timeout: 5000 })
        : Promise.resolve(),
  );
}

function randomMac(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  // 52:54:00 is QEMU's prefix; the rest is random, so two NICs never clash.
  return ["52", "54", "00", ...[...bytes].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

async function addNicNow(
  ctx: HotplugContext,
  options: AddNicOptions = {},
): Promise<HotplugNic> {
  checkTimeout("add a network card", options.timeout);
  const mac = options.mac ?? randomMac();
  const network = parseNetwork(
    { ...options.network ?? { type: "user" }, mac },
    methodField("network card"),
  );
  const id = options.id === undefined ? await freeId(ctx, "nic") : checkId("nic", options.id);
  const port = takePort(ctx, "add a network card", id);
  const wait = { timeout: options.timeout ?? 10_000, signal: options.signal };
  try {
    await applyPlan(ctx.qmp, networkPlan(network, id, { ...ctx.plan, bus: port }), wait);
  } catch (error) {
    if (port !== undefined) ctx.portUse.delete(port);
    throw error;
  }
  ctx.added.set(id, "nic");
  return port === undefined ? { id, mac } : { id, mac, port };
}

/** Removes a network card: `device_del`, waits for `DEVICE_DELETED`, then `netdev_del`. */
export async function removeNic(
  ctx: HotplugContext,
  id: string,
  options: RemoveDeviceOptions = {},
): Promise<void> {
  checkTimeout(`remove network card "${id}"`, options.timeout);
  const ours = ctx.added.get(id) === "nic";
  await deleteDevice(
    ctx,
    "network card",
    id,
    options,
    () => ours ? ctx.qmp.execute("netdev_del", { id }, { timeout: 5000 }) : Promise.resolve(),
  );
}

/** Hot-adds a disk: `blockdev-add`, then `device_add`, undoing the first if the second fails. */
export function addDisk(
  ctx: HotplugContext,
  file: string,
  options: AddDiskOptions = {},
): Promise<HotplugDisk> {
  return oneAtATime(ctx, () => addDiskNow(ctx, file, options));
}

/** Hot-adds a network card: `netdev_add`, then `device_add`, undoing the first on failure. */
export function addNic(ctx: HotplugContext, options: AddNicOptions = {}): Promise<HotplugNic> {
  return oneAtATime(ctx, () => addNicNow(ctx, options));
}
