/**
 * Ctrl-C, SIGTERM and SIGHUP while an instance command runs: an AbortSignal, and the error and
 * exit status of a command they stopped.
 *
 * @module
 */

import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";

/** The signals that interrupt a command (the terminal closing is SIGHUP), with their numbers. */
const INTERRUPTS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** Ctrl-C, SIGTERM and SIGHUP as an AbortSignal (aborted with the signal's name) while `work` runs. */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const listeners = (Object.keys(INTERRUPTS) as (keyof typeof INTERRUPTS)[]).map((name) => {
    const listener = () => controller.abort(name);
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  try {
    return await work(controller.signal);
  } finally {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  }
}

/** Whether an interruptible's signal was aborted by one of the {@linkcode INTERRUPTS}. */
export function interrupted(signal: AbortSignal): boolean {
  return signal.aborted && Object.hasOwn(INTERRUPTS, signal.reason);
}

/** The error of an interrupted command: exit 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). */
export function interruptedError(signal: AbortSignal, what: string): CliError {
  const name = signal.reason as keyof typeof INTERRUPTS;
  return new CliError(
    `Interrupted by ${name}: ${what}`,
    name === "SIGINT" ? EXIT.interrupted : 128 + INTERRUPTS[name],
  );
}
