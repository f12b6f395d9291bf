/**
 * Hot-adding memory to a running VM: a RAM backend and a `pc-dimm` in a free DIMM slot.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { QmpError } from "../qmp/errors.ts";
import { checkId } from "./_checks.ts";
import { parseSize } from "./size.ts";
import { freeId, type HotplugContext, oneAtATime } from "./_hotplug_context.ts";

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

/** Hot-adds a DIMM: a RAM backend (`object-add`), then a `pc-dimm`, undoing the first on failure. */
export function addMemory(
  ctx: HotplugContext,
  size: string | number,
  options: AddMemoryOptions = {},
): Promise<HotplugMemory> {
  return oneAtATime(ctx, () => addMemoryNow(ctx, size, options));
}
