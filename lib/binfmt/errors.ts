/**
 * Errors of the binfmt_misc helpers that callers catch.
 *
 * @module
 */

import type { BinfmtEntry } from "./entry.ts";
import type { BinfmtStatus } from "./entry_status.ts";

/**
 * An entry of the same name is registered and differs from the one being registered. Pass
 * `{ replace: true }` to replace it.
 *
 * @example
 * ```ts
 * import { binfmt, BinfmtConflictError } from "@vmkit/vmkit";
 * try {
 *   await binfmt.register(binfmt.entry("aarch64", { persistent: true }));
 * } catch (error) {
 *   if (error instanceof BinfmtConflictError) console.log(error.differences.join("\n"));
 * }
 * ```
 */
export class BinfmtConflictError extends Error {
  /** Always `"BinfmtConflictError"`. */
  override readonly name = "BinfmtConflictError";
  /** What the kernel has. */
  readonly existing: BinfmtStatus;
  /** What was to be registered. */
  readonly wanted: BinfmtEntry;
  /** One line per differing field, `field: "old" → "new"`. */
  readonly differences: readonly string[];

  /**
   * Makes the error.
   *
   * @param existing What the kernel has.
   * @param wanted What was to be registered.
   * @param differences The differing fields.
   */
  constructor(existing: BinfmtStatus, wanted: BinfmtEntry, differences: readonly string[]) {
    super(
      `Cannot register binfmt_misc entry "${wanted.name}": a different entry of that name is registered (${
        differences.join("; ")
      }); pass { replace: true } (--reset in the recipe) to replace it`,
    );
    this.existing = existing;
    this.wanted = wanted;
    this.differences = differences;
  }
}

/**
 * The kernel refused a write to binfmt_misc because the process is not privileged: registering,
 * removing, enabling and disabling entries, and mounting binfmt_misc, need root (or
 * CAP_SYS_ADMIN).
 */
export class BinfmtPermissionError extends Error {
  /** Always `"BinfmtPermissionError"`. */
  override readonly name = "BinfmtPermissionError";
  /** The file or mount point that was to be changed. */
  readonly path: string;

  /**
   * Makes the error.
   *
   * @param action What was being done, e.g. `register binfmt_misc entry "qemu-arm"`.
   * @param path The file or mount point.
   * @param options The underlying error.
   */
  constructor(action: string, path: string, options?: ErrorOptions) {
    super(
      `Cannot ${action}: changing ${path} needs root (run as root, e.g. with sudo)`,
      options,
    );
    this.path = path;
  }
}
