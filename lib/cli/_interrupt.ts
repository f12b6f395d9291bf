// Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed) as an AbortSignal: a foreground
// command stops its VM or its qemu-img cleanly and ends with 130, 143 or 129 (128 + the
// signal's number, as a shell reports a program the signal killed), instead of dying with QEMU
// or qemu-img still running and its files left behind.

import { linuxSignalName } from "../_signals.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/** The signals a foreground command turns into a clean stop. */
export type InterruptSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** Their numbers on Linux: the exit status is 128 + the number. */
const SIGNAL_NUMBERS: Readonly<Record<InterruptSignal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGTERM: 15,
};

/** What a command that {@linkcode Interrupt} stopped did before exiting, by default. */
const VM_SHUT_DOWN = "the VM was shut down";

/**
 * The reason an interrupted command's signal aborts with: exit 130 (SIGINT), 143 (SIGTERM) or
 * 129 (SIGHUP), and `Interrupted by SIGTERM: the VM was shut down`.
 */
export class InterruptedError extends CliError {
  /** The signal that came. */
  readonly signal: InterruptSignal;

  /**
   * @param signal The signal that came.
   * @param cleanup What the command did before exiting; default "the VM was shut down".
   */
  constructor(signal: InterruptSignal, cleanup: string = VM_SHUT_DOWN) {
    super(
      `Interrupted by ${signal}: ${cleanup}`,
      signal === "SIGINT" ? EXIT.interrupted : 128 + SIGNAL_NUMBERS[signal],
    );
    this.signal = signal;
  }
}

/**
 * While it lives, SIGINT, SIGTERM and SIGHUP abort {@linkcode Interrupt.signal} instead of
 * killing vmkit.
 */
export class Interrupt implements Disposable {
  readonly #controller = new AbortController();
  readonly #listeners: [Deno.Signal, () => void][] = [];

  /**
   * Listens for SIGINT, SIGTERM and SIGHUP.
   *
   * @param cleanup What the command does before exiting once one came, for the message; default
   *   "the VM was shut down".
   */
  constructor(cleanup: string = VM_SHUT_DOWN) {
    for (const name of Object.keys(SIGNAL_NUMBERS) as InterruptSignal[]) {
      const listener = () => {
        if (this.#controller.signal.aborted) return;
        this.#controller.abort(new InterruptedError(name, cleanup));
      };
      Deno.addSignalListener(name, listener);
      this.#listeners.push([name, listener]);
    }
  }

  /** Aborts with an {@linkcode InterruptedError} when a signal comes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops listening: the signals kill the process again. */
  [Symbol.dispose](): void {
    for (const [name, listener] of this.#listeners.splice(0)) {
      Deno.removeSignalListener(name, listener);
    }
  }
}

/**
 * The exit status a shell gives a program that ended so: its code, or 128 + the signal's number.
 *
 * @param exitCode The code, or `null` when a signal killed it.
 * @param signal The signal's name (`"SIGKILL"`), when one killed it.
 * @returns The status.
 */
export function shellStatus(exitCode: number | null, signal: string | null): number {
  if (exitCode !== null) return exitCode;
  for (let number = 1; number <= 64; number++) {
    if (linuxSignalName(number) === signal) return 128 + number;
  }
  return EXIT.guestCommandNotRun;
}
