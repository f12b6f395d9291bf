// Whether an instance's QEMU runs, from its pid file and /proc, and the clean-up of what a QEMU
// that died without cleaning up (kill -9, a host crash) left: its pid file and sockets, which
// QEMU removes itself when it exits normally.

import type { InstanceStatus } from "./errors.ts";
import { PID_FILE, QMP_SOCKET, STALE_FILES } from "./_files.ts";
import { isInstanceQemu, readPidFile } from "./_qemu_process.ts";

/** Whether the instance's QEMU runs, and its pid when it does. */
export interface QemuState {
  status: InstanceStatus;
  pid?: number;
}

/** Reads whether the QEMU of the instance in `dir` runs. */
export async function qemuState(dir: string): Promise<QemuState> {
  const pidFile = `${dir}/${PID_FILE}`;
  const pid = await readPidFile(pidFile);
  if (pid === undefined) return { status: "stopped" };
  return await isInstanceQemu(pid, pidFile, `${dir}/${QMP_SOCKET}`)
    ? { status: "running", pid }
    : { status: "stopped" };
}

/**
 * Removes the pid file and sockets a dead QEMU left. Call it holding the instance's lock, after
 * {@linkcode qemuState} said stopped: a QEMU being started makes them anew.
 *
 * @returns Whether anything was left.
 */
export async function removeStaleFiles(dir: string): Promise<boolean> {
  let found = false;
  for (const name of STALE_FILES) {
    try {
      await Deno.remove(`${dir}/${name}`);
      found = true;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return found;
}
