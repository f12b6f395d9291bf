/**
 * The errors of the guest's serial console: a wait that ran out of time, and a console that
 * closed because QEMU exited.
 *
 * @module
 */

import type { ConsoleExit } from "./console_types.ts";

/** Waiting on the console ran out of time. */
export class ConsoleTimeoutError extends Error {
  /** Always `"ConsoleTimeoutError"`. */
  override readonly name = "ConsoleTimeoutError";
  /** What was awaited. */
  readonly pattern: string;
  /** The limit in milliseconds. */
  readonly timeout: number;
  /** The last 2000 characters of the transcript, to see what the guest was doing. */
  readonly tail: string;

  /**
   * Makes the error.
   *
   * @param pattern What was awaited.
   * @param timeout The limit.
   * @param tail The end of the transcript.
   */
  constructor(pattern: string, timeout: number, tail: string) {
    super(
      `Timed out after ${timeout} ms waiting for ${pattern} on the console; it last showed:\n${tail}`,
    );
    this.pattern = pattern;
    this.timeout = timeout;
    this.tail = tail;
  }
}

/** The console closed (QEMU exited) before or while something waited on it. */
export class ConsoleClosedError extends Error {
  /** Always `"ConsoleClosedError"`. */
  override readonly name = "ConsoleClosedError";
  /** How QEMU exited, when it is known. */
  readonly exit?: ConsoleExit;

  /**
   * Makes the error.
   *
   * @param message What could not be done, and why.
   * @param options QEMU's exit, when known.
   */
  constructor(message: string, options: { exit?: ConsoleExit } = {}) {
    super(message);
    if (options.exit !== undefined) this.exit = options.exit;
  }
}

/**
 * "QEMU exited with code 0", "QEMU was killed by SIGKILL".
 *
 * @param exit QEMU's exit, or `undefined` when it is not known.
 * @returns How QEMU ended, to end a {@linkcode ConsoleClosedError}'s message.
 */
export function describeExit(exit: ConsoleExit | undefined): string {
  if (exit === undefined) return "the console closed";
  return exit.signal !== null
    ? `QEMU was killed by ${exit.signal}`
    : `QEMU exited with code ${exit.code}`;
}
