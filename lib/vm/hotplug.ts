/**
 * Hot-adding and removing disks, network cards, CPUs and memory on a running VM, with the
 * multi-step QMP sequences done in order and undone on failure.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import type { QmpClient, QmpReturn } from "../qmp/client.ts";
import { QmpError, QmpTimeoutError } from "../qmp/errors.ts";
import type { HotplugKind } from "./machine.ts";
import { checkId, checkInputFile, checkPath } from "./_checks.ts";
import { parseSize } from "./size.ts";
import { checkImageFormat } from "./image_format.ts";
import { applyPlan, type PlanContext, type Step } from "./devices/_plan.ts";
import { type DriveOptions, hotplugDrivePlan, parseDrive } from "./devices/disk.ts";
import { type NetworkDescription, networkPlan, parseNetwork } from "./devices/network.ts";
import { methodField } from "./_validate.ts";

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

/** A CPU slot, from `query-hotpluggable-cpus`. */
export type HotpluggableCpu = QmpReturn<"query-hotpluggable-cpus">[number];

/** Options of `Vm.addCpu`: which slot (default the first free one) and the device id. */
export interface AddCpuOptions extends WaitOptions {
  /** Socket. */
  socket?: number;
  /** Die (x86_64). */
  die?: number;
  /** Core. */
  core?: number;
  /** Thread. */
  thread?: number;
  /** Device id; default `cpu<N>`. */
  id?: string;
}

/** A CPU added by `Vm.addCpu`. */
export interface HotplugCpu {
  /** Device id. */
  id: string;
  /** The CPU type, such as `"qemu64-x86_64-cpu"`. */
  type: string;
  /** Its place: `socket-id`, `core-id`, `thread-id`... */
  props: HotpluggableCpu["props"];
}

/** Options of `Vm.addMemory`. */
export interface AddMemoryOptions extends WaitOptions {
  /** Device id; default `dimm<N>`. The memory backend is `<id>-mem`. */
  id?: string;
}

/** A DIMM added by `Vm.addMemory`. */
export interface HotplugMemory {
  /** Device id. */
  id: string;
  /** Its memory backend's id. */
  memdev: string;
  /** Size in bytes. */
  size: number;
}

/** What the hotplug operations need from a running VM. */
export interface HotplugContext {
  qmp: QmpClient;
  /** The machine, for the devices' plans. */
  plan: PlanContext;
  hotplug: HotplugKind;
  memoryHotplug: boolean;
  /** Root port → device id in it. */
  portUse: Map<string, string>;
  /** Ids of the disks and NICs whose backend vmkit removes with them: plugged at boot or hot-added. */
  added: Map<string, "disk" | "nic">;
  /** The hot-add in progress: hot-adds run one at a time, so ids and slots are not taken twice. */
  busy: Promise<unknown>;
  /** The plans of devices added with `Vm.addDevice`, by device id, for their removal. */
  devicePlans: Map<string, Step[]>;
  /** How many devices of each kind the VM has had (boot and hot-added), for default ids. */
  deviceCounts: Map<string, number>;
}

/** Runs a hot-add after the ones already started. */
export function oneAtATime<T>(ctx: HotplugContext, run: () => Promise<T>): Promise<T> {
  const result = ctx.busy.then(run);
  ctx.busy = result.catch(() => {});
  return result;
}

async function freeId(ctx: HotplugContext, prefix: string): Promise<string> {
  const taken = new Set(
    (await ctx.qmp.execute("qom-list", { path: "/machine/peripheral" })).map((p) => p.name),
  );
  for (let n = 0;; n++) if (!taken.has(`${prefix}${n}`)) return `${prefix}${n}`;
}

/** Picks the slot for a new PCI device: a free root port, or the bus itself. */
export function takePort(ctx: HotplugContext, action: string, id: string): string | undefined {
  const hotplug = ctx.hotplug;
  if (hotplug.kind === "none") throw new RangeError(`Cannot ${action}: ${hotplug.reason}`);
  if (hotplug.kind === "bus") return undefined;
  const free = hotplug.ports.find((port) => !ctx.portUse.has(port));
  if (free === undefined) {
    throw new RangeError(
      hotplug.ports.length === 0
        ? `Cannot ${action}: the VM has no hotplug slots; build it with .hotplugSlots(n) (PCIe machines hot-add into root ports made at start)`
        : `Cannot ${action}: all ${hotplug.ports.length} hotplug slots are in use; build the VM with more .hotplugSlots(n)`,
    );
  }
  ctx.portUse.set(free, id);
  return free;
}

function releasePort(ctx: HotplugContext, id: string): void {
  for (const [port, user] of ctx.portUse) if (user === id) ctx.portUse.delete(port);
}

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

export async function deleteDevice(
  ctx: HotplugContext,
  what: string,
  id: string,
  options: RemoveDeviceOptions,
  after: () => Promise<unknown>,
): Promise<void> {
  const timeout = options.timeout ?? 10_000;
  // Subscribed before device_del, so an unplug that completes late is still cleaned up.
  const unsubscribe = new AbortController();
  const deleted = ctx.qmp.waitForEvent("DEVICE_DELETED", {
    match: { device: id },
    signal: unsubscribe.signal,
    // After a timeout this waits on in the background: it must not keep the script alive.
    keepAlive: false,
  });
  deleted.catch(() => {});
  const finish = async () => {
    releasePort(ctx, id);
    ctx.added.delete(id);
    await after();
  };
  try {
    await ctx.qmp.execute("device_del", { id }, { timeout, signal: options.signal });
  } catch (error) {
    unsubscribe.abort();
    throw error;
  }
  try {
    await withDeadline(
      deleted,
      { timeout, signal: options.signal },
      () =>
        new QmpTimeoutError(
          `DEVICE_DELETED of ${what} "${id}" (the guest did not let go of it: it needs ACPI or PCIe hotplug support, and a guest that is not paused); it is removed when the guest lets go`,
          timeout,
        ),
    );
  } catch (error) {
    // The unplug request stands: finish the removal whenever the guest lets go.
    deleted.then(finish).catch(() => {});
    throw error;
  }
  await finish();
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

const CPU_PROPS = [
  ["socket", "socket-id"],
  ["die", "die-id"],
  ["core", "core-id"],
  ["thread", "thread-id"],
] as const;

async function addCpuNow(
  ctx: HotplugContext,
  options: AddCpuOptions = {},
): Promise<HotplugCpu> {
  checkTimeout("add a CPU", options.timeout);
  const slots = await ctx.qmp.execute("query-hotpluggable-cpus");
  const wanted = CPU_PROPS.filter(([option]) => options[option] !== undefined);
  const fits = (slot: HotpluggableCpu) =>
    wanted.every(([option, prop]) => slot.props[prop] === options[option]);
  const free = slots.filter((slot) => slot["qom-path"] === undefined);
  const slot = free.find(fits);
  if (slot === undefined) {
    const where = wanted.map(([option]) => `${option} ${options[option]}`).join(", ");
    if (free.length === 0) {
      throw new RangeError(
        `Cannot add a CPU: all ${slots.length} possible CPUs are present; build the VM with .smp({ cpus, maxcpus }) to leave room`,
      );
    }
    throw new RangeError(
      `Cannot add a CPU at ${where}: no free slot there; free slots: ${
        free.map((s) =>
          CPU_PROPS.filter(([, prop]) => s.props[prop] !== undefined)
            .map(([option, prop]) => `${option} ${s.props[prop]}`).join(", ")
        ).join("; ")
      }`,
    );
  }
  const id = options.id === undefined ? await freeId(ctx, "cpu") : checkId("cpu", options.id);
  const props = Object.fromEntries(
    CPU_PROPS.filter(([, prop]) => slot.props[prop] !== undefined)
      .map(([, prop]) => [prop, slot.props[prop]]),
  );
  await ctx.qmp.execute("device_add", { driver: slot.type, id, ...props }, {
    timeout: options.timeout ?? 10_000,
    signal: options.signal,
  });
  return { id, type: slot.type, props: slot.props };
}

async function addMemoryNow(
  ctx: HotplugContext,
  size: string | number,
  options: AddMemoryOptions = {},
): Promise<HotplugMemory> {
  checkTimeout("add memory", options.timeout);
  const bytes = parseSize("hot-added memory", size);
  if (!ctx.memoryHotplug) {
    throw new RangeError(
      `Cannot add memory: the VM has no DIMM slots; build it with .memory(size, { slots, max })`,
    );
  }
  const id = options.id === undefined ? await freeId(ctx, "dimm") : checkId("dimm", options.id);
  const memdev = `${id}-mem`;
  const wait = { timeout: options.timeout ?? 10_000, signal: options.signal };
  await ctx.qmp.execute(
    "object-add",
    { "qom-type": "memory-backend-ram", id: memdev, size: bytes },
    wait,
  );
  try {
    await ctx.qmp.execute("device_add", { driver: "pc-dimm", id, memdev }, wait);
  } catch (error) {
    await ctx.qmp.execute("object-del", { id: memdev }, { timeout: 5000 }).catch(() => {});
    if (error instanceof QmpError && /slot|maxmem|exceed/i.test(error.desc)) {
      throw new RangeError(`Cannot add ${bytes / 2 ** 20} MiB of memory: ${error.desc}`, {
        cause: error,
      });
    }
    throw error;
  }
  return { id, memdev, size: bytes };
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

/** Hot-adds a CPU into a free slot of `query-hotpluggable-cpus`. */
export function addCpu(ctx: HotplugContext, options: AddCpuOptions = {}): Promise<HotplugCpu> {
  return oneAtATime(ctx, () => addCpuNow(ctx, options));
}

/** Hot-adds a DIMM: a RAM backend (`object-add`), then a `pc-dimm`, undoing the first on failure. */
export function addMemory(
  ctx: HotplugContext,
  size: string | number,
  options: AddMemoryOptions = {},
): Promise<HotplugMemory> {
  return oneAtATime(ctx, () => addMemoryNow(ctx, size, options));
}
