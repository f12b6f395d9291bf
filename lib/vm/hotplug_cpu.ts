/**
 * Hot-adding CPUs to a running VM, into a free slot of `query-hotpluggable-cpus`.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { QmpReturn } from "../qmp/client.ts";
import { checkId } from "./_checks.ts";
import { freeId, type HotplugContext, oneAtATime } from "./_hotplug_context.ts";

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

/** Hot-adds a CPU into a free slot of `query-hotpluggable-cpus`. */
export function addCpu(ctx: HotplugContext, options: AddCpuOptions = {}): Promise<HotplugCpu> {
  return oneAtATime(ctx, () => addCpuNow(ctx, options));
}
