// Ctrl-C (SIGINT) and SIGTERM as an AbortSignal: a foreground command stops its VM cleanly
// and ends with 130 (or 143), instead of dying with QEMU still running.

import { linuxSignalName } from "../_signals.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/** The reason an interrupted command's signal aborts with: exit 130 (SIGINT) or 143 (SIGTERM). */
export class InterruptedError extends CliError {
  /** The signal that came. */
  readonly signal: "SIGINT" | "SIGTERM";

  /**
   * @param signal The signal that came.
   */
  constructor(signal: "SIGINT" | "SIGTERM") {
    super(
      `Interrupted by ${signal}: the VM was shut down`,
      signal === "SIGINT" ? EXIT.interrupted : 128 + 15,
    );
    this.signal = signal;
  }
}

/** While it lives, SIGINT and SIGTERM abort {@linkcode Interrupt.signal} instead of killing. */
export class Interrupt implements Disposable {
  readonly #controller = new AbortController();
  readonly #listeners: [Deno.Signal, () => void][] = [];

  /** Listens for SIGINT and SIGTERM. */
  constructor() {
    for (const name of ["SIGINT", "SIGTERM"] as const) {
      const listener = () => {
        if (!this.#controller.signal.aborted) this.#controller.abort(new InterruptedError(name));
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
