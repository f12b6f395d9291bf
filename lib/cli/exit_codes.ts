/**
 * The `vmkit` command's exit statuses. A command run in a guest (`vmkit run FILE -- CMD`,
 * `vmkit kernel`, `vmkit exec`) passes its own status through, so vmkit's own failures there use
 * 125, as `docker run` does.
 *
 * @module
 */

/** The exit statuses of `vmkit`. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The operation failed: QEMU, the guest, a file, a time limit. */
  failure: 1,
  /** Wrong usage: an unknown flag, a missing argument, an invalid VM definition. */
  usage: 2,
  /**
   * vmkit could not run the guest command at all (QEMU failed, boot timed out, the guest panicked
   * or vanished); otherwise such commands exit with the guest command's status (128+N when a
   * signal N killed it).
   */
  guestCommandNotRun: 125,
  /** Interrupted (Ctrl-C); the VM was shut down first. */
  interrupted: 130,
} as const;
