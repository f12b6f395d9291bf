// The memory balloon of a running VM (`Vm.setBalloon`, `Vm.balloonSize`) over QMP, with a VM
// that has no balloon device named as such.

import type { WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { QmpError } from "../qmp/errors.ts";
import { parseSize } from "./size.ts";

/**
 * Asks the guest's balloon driver to bring its memory to `size` (QMP `balloon`).
 *
 * @param qmp The VM's QMP client.
 * @param size The target, such as `"128M"`.
 * @param options Time limit and signal.
 * @throws {TypeError} When the VM has no balloon device.
 */
export async function setBalloon(
  qmp: QmpClient,
  size: string | number,
  options: WaitOptions,
): Promise<void> {
  const value = parseSize("balloon target", size);
  await withBalloon(() => qmp.execute("balloon", { value }, options));
}

/**
 * The guest's memory as the balloon reports it (QMP `query-balloon`).
 *
 * @param qmp The VM's QMP client.
 * @param options Time limit and signal.
 * @returns Bytes.
 * @throws {TypeError} When the VM has no balloon device.
 */
export async function balloonSize(qmp: QmpClient, options: WaitOptions): Promise<number> {
  return (await withBalloon(() => qmp.execute("query-balloon", undefined, options))).actual;
}

async function withBalloon<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof QmpError && error.errorClass === "DeviceNotActive") {
      throw new TypeError(
        "Cannot use the balloon: the VM has no balloon device; build it with .balloon()",
        { cause: error },
      );
    }
    throw error;
  }
}
