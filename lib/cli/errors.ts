/**
 * The error a `vmkit` command throws to end with a message and an exit status.
 *
 * @module
 */

import { EXIT } from "./exit_codes.ts";

/** A failure `vmkit` reports as `vmkit: MESSAGE` and ends with `exitCode`. */
export class CliError extends Error {
  override readonly name = "CliError";
  /** The exit status (see `EXIT`). */
  readonly exitCode: number;

  /**
   * @param message What went wrong and what to do, "Cannot X: reason" as everywhere in vmkit.
   * @param exitCode The exit status; default `EXIT.failure` (1).
   * @param options The cause.
   */
  constructor(message: string, exitCode: number = EXIT.failure, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}
