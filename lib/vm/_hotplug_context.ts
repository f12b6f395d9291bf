// What every hot-add and removal shares: the running VM's hotplug state, hot-adds run one at a
// time, free device ids, the PCIe root ports in use, and `device_del` up to `DEVICE_DELETED`.

import { type WaitOptions, withDeadline } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { QmpTimeoutError } from "../qmp/errors.ts";
import type { HotplugKind } from "./machine.ts";
import type { VmSpec } from "./spec.ts";
import type { PlanContext, Step } from "./devices/_plan.ts";
import type { Device } from "./devices/_registry.ts";

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

/**
 * The hotplug state of a VM just launched: nothing hot-added yet, the disks and NICs plugged at
 * boot removable with their backends.
 *
 * @param vm The VM's QMP client, the description it was launched from, its runtime directory.
 * @returns A new context.
 */
export function hotplugContext(
  vm: { qmp: QmpClient; builder: VmSpec; runtimeDir: string },
): HotplugContext {
  const { qmp, builder, runtimeDir } = vm;
  return {
    qmp,
    plan: {
      arch: builder.archProfile,
      machine: builder.machineType,
      transport: builder.transport,
      runtimeDir,
      sharedMemory: builder.sharedMemory,
    },
    hotplug: builder.hotplug,
    memoryHotplug: builder.hasMemoryHotplug,
    portUse: new Map(),
    devicePlans: new Map(),
    deviceCounts: countKinds(builder.devices),
    added: new Map([
      ...builder.plugged.disks.map((id) => [id, "disk"] as const),
      ...builder.plugged.nics.map((id) => [id, "nic"] as const),
    ]),
    busy: Promise.resolve(),
  };
}

function countKinds(devices: readonly Device[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const device of devices) counts.set(device.kind, (counts.get(device.kind) ?? 0) + 1);
  return counts;
}

/** Runs a hot-add after the ones already started. */
export function oneAtATime<T>(ctx: HotplugContext, run: () => Promise<T>): Promise<T> {
  const result = ctx.busy.then(run);
  ctx.busy = result.catch(() => {});
  return result;
}

/** The first `<prefix><N>` no device of the VM has as its id. */
/** The ids of the VM's devices that have one (QOM's `/machine/peripheral`). */
export async function peripheralIds(ctx: HotplugContext): Promise<Set<string>> {
  const list = await ctx.qmp.execute("qom-list", { path: "/machine/peripheral" });
  return new Set(list.map((p) => p.name));
}

export async function freeId(ctx: HotplugContext, prefix: string): Promise<string> {
  const taken = await peripheralIds(ctx);
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

/**
 * Unplugs a device: `device_del`, waits until the guest lets go (`DEVICE_DELETED`), frees its
 * slot and runs `after` (removing its backends). When the guest is late, the removal finishes
 * whenever it lets go.
 *
 * @param ctx The VM's hotplug state.
 * @param what What the device is, for the timeout's message.
 * @param id The device id.
 * @param options Time limit (default 10 s) and signal.
 * @param after Removes what the device leaves behind.
 * @throws {QmpTimeoutError} When the guest does not let go in time.
 */
export async function deleteDevice(
  ctx: HotplugContext,
  what: string,
  id: string,
  options: WaitOptions,
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
