// Machine resets and the console's prompt: `Vm.reset` (QMP `system_reset`, also on a VM built to
// exit on reboot), and the watch that makes the console wait for a fresh prompt after any reset.

import type { WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import type { VmSpec } from "./spec.ts";

/**
 * Makes every reset of the guest (`Vm.reset`, or a reboot from inside under the classic
 * profile) hold the console's next `exec` until the new prompt: it must not type into the
 * booting guest. Runs until the QMP connection closes.
 *
 * @param qmp The VM's QMP client.
 * @param console The VM's console.
 */
export function watchResets(qmp: QmpClient, console: Console): void {
  const resets = qmp.events({ names: ["RESET"], keepAlive: false });
  (async () => {
    for await (const _ of resets) console.expectNewPrompt();
  })().catch(() => {});
}

/**
 * Resets the machine (`Vm.reset`); a VM built to exit on reboot has its reboot action set to
 * `reset` for this request and the firmware's own reset that follows it.
 *
 * @param vm The VM's QMP client, console and description.
 * @param options Time limit and signal.
 * @returns Once the reset is done, while the guest boots again.
 */
export async function resetVm(
  vm: { qmp: QmpClient; console: Console; builder: VmSpec },
  options: WaitOptions,
): Promise<void> {
  const { qmp, console, builder } = vm;
  // Commands wait from now on, and for a prompt printed after the reset, not for one the
  // guest prints while the reset is still on its way.
  console.holdForReset();
  let done = false;
  try {
    if (!builder.exitsOnReboot) {
      await qmp.executeAndWait("system_reset", undefined, { event: "RESET", ...options });
      done = true;
      return;
    }
    // SeaBIOS (QEMU's default x86 firmware, or given as firmware) answers a warm reset by
    // resetting the machine once more, itself, about 30 ms later; that one must reset too, so
    // the action goes back only after it (or after 3 s: on a loaded machine 1 s was measured to
    // be too short). qboot and OVMF do not.
    const seabios = builder.arch === "x86_64" &&
      (builder.bios === undefined || /(^|\/)bios[\w.-]*\.bin$/.test(builder.bios));
    const firmwareReset = seabios
      ? qmp.waitForEvent("RESET", { match: { guest: true }, timeout: 3000 })
      : undefined;
    firmwareReset?.catch(() => {});
    await qmp.execute("set-action", { reboot: "reset" }, options);
    try {
      await qmp.executeAndWait("system_reset", undefined, { event: "RESET", ...options });
      done = true;
      await firmwareReset?.catch(() => {});
    } finally {
      await qmp.execute("set-action", { reboot: "shutdown" }, options);
    }
  } finally {
    // After a reset the shell's next prompt is awaited; without one, the guest is as it was.
    if (done) console.expectNewPrompt();
    else console.assumePrompt();
  }
}
