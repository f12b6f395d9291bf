// Hot-adding any device of the generic list (`Vm.addDevice`): the same plan as at boot, sent
// over QMP, into a free root port on PCI Express machines; and its removal.

import { checkTimeout } from "../_deadline.ts";
import { checkEnum, methodField } from "./_validate.ts";
import { type Device, DEVICE_KINDS } from "./devices/_registry.ts";
import { applyPlan, bootOnlyReason, type Step, undoBackends } from "./devices/_plan.ts";
import {
  deleteDevice,
  type HotplugContext,
  oneAtATime,
  peripheralIds,
  takePort,
} from "./_hotplug_context.ts";
import type { RemoveDeviceOptions } from "./hotplug.ts";
import type { WaitOptions } from "../_deadline.ts";

/** Options of `Vm.addDevice`. */
export interface AddDeviceOptions extends WaitOptions {}

/** A device added by `Vm.addDevice`. */
export interface HotplugDevice {
  /** The device id (`Vm.removeDevice` takes it). */
  id: string;
  /** The kind. */
  kind: Device["kind"];
  /** The PCIe root port it sits in, on machines that use them. */
  port?: string;
  /**
   * The root ports taken by shared controllers the VM did not have yet (a virtio-serial or xHCI
   * controller), added with the device and kept for later devices.
   */
  controllerPorts?: string[];
}

async function addDeviceNow(
  ctx: HotplugContext,
  device: Device,
  options: AddDeviceOptions,
): Promise<HotplugDevice> {
  const kinds = Object.keys(DEVICE_KINDS) as Device["kind"][];
  const kind = checkEnum("device kind", (device as { kind?: unknown } | null)?.kind, kinds);
  checkTimeout(`add ${kind} device`, options.timeout);
  const definition = DEVICE_KINDS[kind];
  const { kind: _, ...fields } = device as unknown as Record<string, unknown>;
  const parsed = definition.parse(fields, methodField(kind), ctx.plan.arch) as Device;
  const index = ctx.deviceCounts.get(kind) ?? 0;
  const present = await peripheralIds(ctx);
  const full = (definition.plan as (d: Device, c: typeof ctx.plan, i: number) => Step[])(
    parsed,
    ctx.plan,
    index,
  );
  const main = full.findLast((step) => step.kind === "device") as
    | Extract<Step, { kind: "device" }>
    | undefined;
  // Controllers already there (virtio-serial, xhci) are not added again.
  const draft = full.filter((step) =>
    step === main || !(step.kind === "device" && present.has(step.args.id ?? ""))
  );
  const why = bootOnlyReason(draft);
  if (why !== undefined) throw new TypeError(`Cannot hot-add ${kind} device: ${why}`);
  const id = main?.args.id;
  if (id === undefined || present.has(id)) {
    throw new TypeError(
      id === undefined
        ? `Cannot hot-add ${kind} device: it has no device id to remove it by`
        : `Cannot hot-add ${kind} device: id "${id}" is already used; give another id`,
    );
  }
  // Each device that plugs into the machine's own bus takes a slot: the device, and a shared
  // controller the VM does not have yet (which stays, with its slot, for later devices).
  const ports = new Map<Step, string>();
  // After a failure, a controller that did get added keeps its slot (it stays, for later
  // devices); every other slot is free again.
  const release = async () => {
    const added = await peripheralIds(ctx).catch(() => new Set<string>());
    for (const [step, port] of ports) {
      if (step.kind === "device" && step !== main && added.has(step.args.id ?? "")) continue;
      ctx.portUse.delete(port);
    }
  };
  try {
    for (const step of draft) {
      if (step.kind !== "device" || step.args.bus !== undefined) continue;
      const port = takePort(ctx, `add ${kind} device "${id}"`, step.args.id ?? id);
      if (port !== undefined) ports.set(step, port);
    }
    const steps = draft.map((step) =>
      step.kind === "device" && ports.has(step)
        ? { ...step, args: { ...step.args, bus: ports.get(step) } }
        : step
    );
    await applyPlan(ctx.qmp, steps, {
      timeout: options.timeout ?? 10_000,
      signal: options.signal,
    });
    ctx.devicePlans.set(id, steps);
  } catch (error) {
    await release();
    throw error;
  }
  const port = ports.get(main!);
  const controllerPorts = [...ports].filter(([step]) => step !== main).map(([, p]) => p);
  ctx.deviceCounts.set(kind, index + 1);
  return {
    id,
    kind,
    ...port === undefined ? {} : { port },
    ...controllerPorts.length === 0 ? {} : { controllerPorts },
  };
}

/**
 * Hot-adds a device of the generic list: its plan (chardevs, objects, the device) over QMP,
 * undone if a step fails.
 */
export function addDevice(
  ctx: HotplugContext,
  device: Device,
  options: AddDeviceOptions = {},
): Promise<HotplugDevice> {
  return oneAtATime(ctx, () => addDeviceNow(ctx, device, options));
}

/**
 * Removes a device added with `addDevice`: `device_del`, `DEVICE_DELETED`, then its backends.
 */
export async function removeDevice(
  ctx: HotplugContext,
  id: string,
  options: RemoveDeviceOptions = {},
): Promise<void> {
  checkTimeout(`remove device "${id}"`, options.timeout);
  const steps = ctx.devicePlans.get(id);
  if (steps === undefined) {
    throw new TypeError(
      `Cannot remove device "${id}": it was not added with addDevice (disks and network cards: removeDisk, removeNic)`,
    );
  }
  await deleteDevice(ctx, "device", id, options, async () => {
    ctx.devicePlans.delete(id);
    // Only the steps that make this device's backends; shared controllers stay.
    await undoBackends(ctx.qmp, steps.filter((step) => step.kind !== "device"));
  });
}
