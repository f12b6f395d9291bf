// The instance lock: an exclusive flock on STATE/lock, taken without waiting, held while a
// start, stop or delete runs. The kernel drops an flock when its holder dies (kill -9, a crash),
// so a lock left by a killed vmkit is no dead end: the next tryLock simply gets it. The file
// holds the holder's pid and action, so a refused caller can name it.

import { InstanceBusyError } from "./errors.ts";
import { LOCK_FILE } from "./_files.ts";

/** A held instance lock; dispose of it (or `release()`) to let go. */
export interface InstanceLock extends Disposable {
  /** Lets go of the lock; calling it again does nothing. */
  release(): void;
}

const encoder = new TextEncoder();

/** Reads "PID ACTION" from the lock file; whatever cannot be read is left out. */
async function readHolder(path: string): Promise<{ pid?: number; action?: string }> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const match = /^(\d+) (\S+)/.exec(text);
  return match === null ? {} : { pid: Number(match[1]), action: match[2] };
}

/**
 * Takes the lock of the instance in `dir` (which must exist), or throws at once.
 *
 * @param dir The instance's state directory.
 * @param name The instance's name, for the error.
 * @param action What the caller does: "start", "stop", "delete" (one word).
 * @param file The lock file in `dir`: the instance's (default), or another for another thing
 *   one process at a time may hold, such as the events monitor.
 * @returns The held lock.
 * @throws {InstanceBusyError} When another process holds it.
 */
export async function lockInstance(
  dir: string,
  name: string,
  action: string,
  file: string = LOCK_FILE,
): Promise<InstanceLock> {
  const path = `${dir}/${file}`;
  const opened = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked: boolean;
  try {
    locked = await opened.tryLock(true);
  } catch (error) {
    opened.close();
    throw error;
  }
  if (!locked) {
    opened.close();
    throw new InstanceBusyError(`${action} instance "${name}"`, name, await readHolder(path));
  }
  await opened.truncate(0);
  await opened.write(encoder.encode(`${Deno.pid} ${action}\n`));
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    // Closing the file drops the flock.
    opened.close();
  };
  return { release, [Symbol.dispose]: release };
}
