/**
 * Errors of launching and driving a VM.
 *
 * @module
 */

import type { VmExit } from "./vm.ts";

/** QEMU exited, or did not come up, during start-up. */
export class VmLaunchError extends Error {
  override readonly name = "VmLaunchError";
  /** The binary and arguments that were run. */
  readonly argv: readonly string[];
  /** What QEMU wrote to stderr. */
  readonly stderr: string;
  /** QEMU's exit, when it exited. */
  readonly exit?: VmExit;

  /**
   * @param message What went wrong.
   * @param details The argv, stderr and exit, and the cause.
   */
  constructor(
    message: string,
    details: { argv: readonly string[]; stderr: string; exit?: VmExit; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.argv = details.argv;
    this.stderr = details.stderr;
    if (details.exit !== undefined) this.exit = details.exit;
  }
}
