// Why a guest can do nothing more, as soon as it is known: QEMU exited, the guest reported a
// panic over pvpanic (QMP GUEST_PANICKED), or its kernel printed a panic on the console. Every
// wait on a guest (the agent, readiness stages) races this, so a dead guest fails a wait at
// once with the reason instead of running into its time limit.

import type { QmpClient } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import { describeExit } from "./console_errors.ts";
import type { VmExit } from "./vm_types.ts";

/** The console line a Linux kernel prints when it panics. */
export const KERNEL_PANIC_LINE = /Kernel panic - not syncing:[^\r\n]*/;

/**
 * Resolves with the reason once the guest can do nothing more; never rejects, and keeps
 * nothing alive.
 *
 * @param parts QEMU's exit, its QMP client and the console.
 * @returns The reason, such as `QEMU exited with code 0`.
 */
export function watchFailure(
  parts: { exited: Promise<VmExit>; qmp: QmpClient; console: Console },
): Promise<string> {
  const never = new Promise<never>(() => {});
  const exited = parts.exited.then((exit) => describeExit(exit));
  const panicked = parts.qmp.waitForEvent("GUEST_PANICKED", { keepAlive: false }).then(
    () => "the guest panicked (pvpanic reported GUEST_PANICKED)",
    () => never,
  );
  const panicLine = parts.console.seen(KERNEL_PANIC_LINE, { keepAlive: false }).then(
    ({ match }) => `the guest's kernel panicked: "${match.trim()}"`,
    () => never,
  );
  return Promise.race([exited, panicked, panicLine]);
}
