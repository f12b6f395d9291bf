/**
 * Mounting binfmt_misc where it is not mounted yet.
 *
 * @module
 */

import { BinfmtPermissionError } from "./errors.ts";
import { programOutput } from "../_command.ts";
import { pathExists } from "../_fs.ts";

/** Where binfmt_misc lives. */
export const DEFAULT_MOUNT_POINT = "/proc/sys/fs/binfmt_misc";

/** Options of the functions that talk to binfmt_misc. */
export interface MountOptions {
  /** The binfmt_misc mount point. Default `/proc/sys/fs/binfmt_misc`. */
  mountPoint?: string;
}

/**
 * Makes sure binfmt_misc is mounted, mounting it (by running `mount -t binfmt_misc`) when it
 * is not.
 *
 * @param options The mount point.
 * @returns `true` when it mounted binfmt_misc, `false` when it already was.
 * @throws {Deno.errors.NotFound} When the mount point does not exist: the kernel has no
 *   binfmt_misc (load it with `modprobe binfmt_misc`).
 * @throws {BinfmtPermissionError} When mounting needs root.
 * @throws {Error} When `mount` fails otherwise; the message has what it printed.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * console.log(await binfmt.ensureMounted()); // false when systemd already mounted it
 * ```
 */
export async function ensureMounted(options: MountOptions = {}): Promise<boolean> {
  const mountPoint = options.mountPoint ?? DEFAULT_MOUNT_POINT;
  if (await pathExists(`${mountPoint}/register`)) return false;
  if (!(await pathExists(mountPoint))) {
    throw new Deno.errors.NotFound(
      `Cannot mount binfmt_misc: ${mountPoint} does not exist, so the kernel has no binfmt_misc support loaded (run "modprobe binfmt_misc" as root)`,
    );
  }
  const output = await programOutput("mount", {
    args: ["-t", "binfmt_misc", "binfmt_misc", mountPoint],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    missing:
      `Cannot mount binfmt_misc on ${mountPoint}: the "mount" command is not installed (Debian package mount)`,
  });
  if (output.success) return true;
  const stderr = new TextDecoder().decode(output.stderr).trim();
  if (/permission denied|must be superuser|only root|operation not permitted/i.test(stderr)) {
    throw new BinfmtPermissionError("mount binfmt_misc", mountPoint, { cause: new Error(stderr) });
  }
  throw new Error(
    `Cannot mount binfmt_misc on ${mountPoint}: mount exited with code ${output.code}: ${stderr}`,
  );
}
