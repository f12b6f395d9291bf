// Why a guest can do nothing more, as soon as it is known: QEMU exited, the guest reported a
// panic over pvpanic (QMP GUEST_PANICKED), or its kernel printed a panic on the console. Every
// wait on a guest (the agent, readiness stages) races this, so a dead guest fails a wait at
// once with the reason instead of running into its time limit.

import type { QmpClient } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import { describeExit } from "./console_errors.ts";
import type { ShutdownReason } from "./_shutdown_reason.ts";
import type { VmExit } from "./vm_types.ts";

/** The console line a Linux kernel prints when it panics. */
export const KERNEL_PANIC_LINE = /Kernel panic - not syncing:[^\r\n]*/;

/** The same line once it is whole: a console read mid-line would cut it mid-word. */
const WHOLE_PANIC_LINE = new RegExp(`${KERNEL_PANIC_LINE.source}(?=\\r?\\n)`);

/** How many of the lines before the panic a report keeps: what the guest said of its trouble. */
const LINES_BEFORE = 5;

/**
 * The first whole panic line in a console's text and the last lines before it (an initrd's
 * "cannot mount the root filesystem", an oops), as a reason's text:
 * `"Kernel panic - not syncing: ..."; the console's lines before it:\n...`.
 *
 * @param text The console's text.
 * @returns The report, or `undefined` when the text has no whole panic line.
 */
export function describePanic(text: string): string | undefined {
  const match = WHOLE_PANIC_LINE.exec(text);
  if (match === null) return undefined;
  const before = text.slice(0, text.lastIndexOf("\n", match.index) + 1).replaceAll("\r", "")
    .split("\n")
    .filter((line) => line.trim() !== "").slice(-LINES_BEFORE);
  return `"${match[0].trim()}"${
    before.length === 0 ? "" : `; the console's lines before it:\n${before.join("\n")}`
  }`;
}

/**
 * Resolves with the reason once the guest can do nothing more; never rejects, and keeps
 * nothing alive.
 *
 * @param parts QEMU's exit, its QMP client and the console.
 * @param shutdown Why QEMU said it stops (its SHUTDOWN events), to say why it exited 0.
 * @returns The reason, such as `QEMU exited with code 0`.
 */
export function watchFailure(
  parts: { exited: Promise<VmExit>; qmp: QmpClient; console: Console },
  shutdown: ShutdownReason,
): Promise<string> {
  const never = new Promise<never>(() => {});
  const exited = parts.exited.then(async (exit) => {
    await shutdown.final();
    return describeEnd(exit, shutdown, parts.console);
  });
  const panicked = parts.qmp.waitForEvent("GUEST_PANICKED", { keepAlive: false }).then(
    () => "the guest panicked (pvpanic reported GUEST_PANICKED)",
    () => never,
  );
  const panicLine = parts.console.seen(WHOLE_PANIC_LINE, { keepAlive: false }).then(
    ({ match }) =>
      `the guest's kernel panicked: ${
        describePanic(parts.console.transcript) ?? `"${match.trim()}"`
      }`,
    () => never,
  );
  return Promise.race([exited, panicked, panicLine]);
}

/**
 * QEMU's exit in words, with the SHUTDOWN reason read so far.
 *
 * @param exit How QEMU exited.
 * @param shutdown Why QEMU said it stops.
 * @param console The console, to tell a guest that printed nothing.
 * @returns Such as `QEMU exited with code 0: the guest powered off`.
 */
export function describeEnd(exit: VmExit, shutdown: ShutdownReason, console: Console): string {
  return `${describeExit(exit)}${whyShutdown(shutdown.reason, console.transcript.trim() === "")}`;
}

/** QEMU's SHUTDOWN reason in words, after "QEMU exited with code 0". */
function whyShutdown(reason: string | undefined, silent: boolean): string {
  switch (reason) {
    case undefined:
      return "";
    case "guest-shutdown":
      return ": the guest powered off";
    case "guest-reset":
      return `: the guest reset, and -no-reboot ends QEMU on a reset${
        silent
          ? "; it printed nothing first, as a kernel does that triple-faults early: too little memory for it, or a kernel for another machine?"
          : " (a kernel that reboots after a panic, panic=-1, or a reboot from inside)"
      }`;
    case "guest-panic":
      return ": the guest panicked";
    case "host-qmp-quit":
      return ": QMP quit";
    case "host-signal":
      return ": QEMU got a signal";
    default:
      return ` (SHUTDOWN reason "${reason}")`;
  }
}
