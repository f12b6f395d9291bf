// Whether the guest can run a command now: the console asks before each exec, so a paused VM
// fails at once instead of timing out.

import type { QmpClient, QmpReturn } from "../qmp/client.ts";
import { QmpDisconnectedError } from "../qmp/errors.ts";
import { VmNotRunningError } from "./errors.ts";

/**
 * Throws a {@linkcode VmNotRunningError} when the guest's CPUs are not running, so a console
 * command fails at once instead of waiting out its timeout.
 *
 * @param qmp The VM's QMP client.
 * @param action What was to be done, for the message.
 */
export async function checkRunnable(qmp: QmpClient, action: string): Promise<void> {
  let status: QmpReturn<"query-status">;
  try {
    status = await qmp.execute("query-status", undefined, { timeout: 5000 });
  } catch (error) {
    // QEMU is gone: the console is closing too, and says how QEMU exited.
    if (error instanceof QmpDisconnectedError) return;
    throw error;
  }
  if (!status.running) throw new VmNotRunningError(action, status.status);
}
