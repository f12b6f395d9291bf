// A device's plan: the ordered QMP objects that make it. At boot each step is written as a
// command-line option (`-object`, `-blockdev`, `-netdev`, `-chardev`, `-device`); on a running
// VM the same objects are sent as `object-add`, `blockdev-add`, `netdev_add`, `chardev-add` and
// `device_add`, and undone in reverse when a later step fails. One description, both paths.

import type { QmpClient } from "../../qmp/client.ts";
import type { WaitOptions } from "../../_deadline.ts";
import type { ArchProfile, VirtioTransport } from "../arch.ts";
import type { LaunchFacts } from "./_kind.ts";

/** Arguments of `object-add`, and of `-object`. */
export type ObjectArgs = { "qom-type": string; id: string } & Record<string, unknown>;
/** Arguments of `blockdev-add`, and of `-blockdev`. */
export type BlockdevArgs = { "node-name": string } & Record<string, unknown>;
/** Arguments of `netdev_add`, and of `-netdev`. */
export type NetdevArgs = { type: string; id: string } & Record<string, unknown>;
/** Arguments of `device_add`, and of `-device`. */
export type DeviceArgs = { driver: string; id?: string } & Record<string, unknown>;

/** One step of a plan. */
export type Step =
  | { kind: "object"; args: ObjectArgs }
  | { kind: "blockdev"; args: BlockdevArgs }
  | { kind: "netdev"; args: NetdevArgs }
  /** `-chardev` takes no JSON in QEMU 7.2: its option list and `chardev-add`'s backend. */
  | { kind: "chardev"; id: string; option: string; backend: Record<string, unknown> }
  | { kind: "device"; args: DeviceArgs }
  /** Command-line options with no QMP form: a plan with one cannot be hot-added. */
  | { kind: "arg"; argv: string[]; why: string };

/** The command-line options of one step. */
export function stepArgv(step: Step): string[] {
  switch (step.kind) {
    // QEMU 7.2 reads these four as JSON, typed as QMP types them: no comma escaping, and the
    // same object QMP gets on hot-add.
    case "object":
      return ["-object", JSON.stringify(step.args)];
    case "blockdev":
      return ["-blockdev", JSON.stringify(step.args)];
    case "netdev":
      return ["-netdev", JSON.stringify(step.args)];
    case "device":
      return ["-device", JSON.stringify(step.args)];
    case "chardev":
      return ["-chardev", step.option];
    case "arg":
      return step.argv;
  }
}

/**
 * The command-line options of a plan. A controller several devices share (virtio-scsi, xhci,
 * virtio-serial) is in each one's plan and written once, where it first appears.
 */
export function planArgv(steps: readonly Step[]): string[] {
  const seen = new Set<string>();
  return steps.flatMap((step) => {
    if (step.kind !== "device" || step.args.id === undefined) return stepArgv(step);
    const key = JSON.stringify(step.args);
    if (seen.has(key)) return [];
    seen.add(key);
    return stepArgv(step);
  });
}

/** Removes the backends of a plan (objects, block nodes, netdevs, chardevs), last first. */
export async function undoBackends(qmp: QmpClient, steps: readonly Step[]): Promise<void> {
  for (const step of [...steps].reverse()) await undo(qmp, step).catch(() => {});
}

async function undo(qmp: QmpClient, step: Step): Promise<void> {
  const wait = { timeout: 5000 };
  switch (step.kind) {
    case "object":
      await qmp.execute("object-del", { id: step.args.id }, wait);
      return;
    case "blockdev":
      await qmp.execute("blockdev-del", { "node-name": step.args["node-name"] }, wait);
      return;
    case "netdev":
      await qmp.execute("netdev_del", { id: step.args.id }, wait);
      return;
    case "chardev":
      await qmp.execute("chardev-remove", { id: step.id }, wait);
      return;
    case "device":
      // A device that was added is removed with device_del by the caller's own removal path.
      return;
    case "arg":
      return;
  }
}

/**
 * Whether a plan can be hot-added, and if not, why: the reason of its first boot-only step.
 */
export function bootOnlyReason(steps: readonly Step[]): string | undefined {
  for (const step of steps) if (step.kind === "arg") return step.why;
  return undefined;
}

/**
 * Sends a plan to a running VM, step by step; when a step fails, the steps already done are
 * undone in reverse order (best effort) and the step's error is thrown.
 */
export async function applyPlan(
  qmp: QmpClient,
  steps: readonly Step[],
  wait: WaitOptions,
): Promise<void> {
  const done: Step[] = [];
  try {
    for (const step of steps) {
      switch (step.kind) {
        case "object":
          await qmp.execute("object-add", step.args as never, wait);
          break;
        case "blockdev":
          await qmp.execute("blockdev-add", step.args as never, wait);
          break;
        case "netdev":
          await qmp.execute("netdev_add", step.args as never, wait);
          break;
        case "chardev":
          await qmp.execute("chardev-add", { id: step.id, backend: step.backend } as never, wait);
          break;
        case "device":
          await qmp.execute("device_add", step.args as never, wait);
          break;
        case "arg":
          throw new TypeError(`Cannot hot-add this device: ${step.why}`);
      }
      done.push(step);
    }
  } catch (error) {
    for (const step of done.reverse()) await undo(qmp, step).catch(() => {});
    throw error;
  }
}

/** What a device's plan depends on besides its own description. */
export interface PlanContext {
  /** The architecture profile. */
  arch: Readonly<ArchProfile>;
  /** The machine type. */
  machine: string;
  /** The virtio transport. */
  transport: VirtioTransport;
  /** The VM's runtime directory (sockets vmkit owns). */
  runtimeDir: string;
  /**
   * Whether guest memory is shared with other processes (a memory backend with `share`), as
   * vhost-user devices (virtiofs, vhost-user-net/-blk) need.
   */
  sharedMemory: boolean;
  /** On hot-add, the bus to plug into (a PCIe root port), if the machine uses one. */
  bus?: string;
  /** What the devices learned while prepared at launch; empty outside `launch()`. */
  facts?: LaunchFacts;
  /** QEMU listens on the runtime directory's sockets (a background instance), not vmkit. */
  qemuListens?: boolean;
}

/** The options that make a chardev socket the listening side, when QEMU listens. */
export function listening(qemuListens: boolean | undefined): [string, boolean][] {
  return qemuListens ? [["server", true], ["wait", false]] : [];
}

/** The `bus` property of a hot-added device, if any. */
export function busOf(ctx: PlanContext): { bus?: string } {
  return ctx.bus === undefined ? {} : { bus: ctx.bus };
}
