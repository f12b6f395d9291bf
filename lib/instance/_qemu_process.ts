// The Linux edge of instances: reading QEMU's pid file, telling whether that pid is still the
// instance's QEMU (/proc/PID/cmdline names the instance's pid file), signalling it and waiting
// for it to go. A daemonized QEMU is no child of ours: nothing here can wait() for it.

import { readTextIfExists } from "../_fs.ts";

/** The pid in a pid file, or undefined when the file is missing or holds no pid. */
export async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether `pid` is a live QEMU started with `-pidfile <pidFile>`: a pid the kernel gave to
 * another process since (after a reboot, or many processes later) has another command line. A
 * zombie has an empty one, and counts as gone.
 *
 * Deno 2.9 lets a script read /proc only with --allow-all; without it, whether something
 * accepts connections on the instance's QMP socket decides (a killed QEMU leaves its socket
 * file, and connecting to it is refused).
 */
export async function isInstanceQemu(
  pid: number,
  pidFile: string,
  qmpSocket: string,
): Promise<boolean> {
  let cmdline: string;
  try {
    cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return await socketAnswers(qmpSocket);
    }
    throw error;
  }
  return cmdline.split("\0").includes(pidFile);
}

/** Whether something accepts a connection on a unix socket. */
async function socketAnswers(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch (error) {
    if (
      error instanceof Deno.errors.ConnectionRefused || error instanceof Deno.errors.NotFound
    ) {
      return false;
    }
    throw error;
  }
}

/** Sends a signal; a process that is gone already is no error. */
export function signalPid(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    // ESRCH comes as a plain error on some Deno versions.
    if (error instanceof Error && /ESRCH|No such process|os error 3\b/.test(error.message)) return;
    throw error;
  }
}

/**
 * Waits until the instance's QEMU is gone, polling every 20 ms (growing to 100 ms), for at most
 * `ms`.
 *
 * @returns Whether it is gone.
 */
export async function waitGone(
  pid: number,
  pidFile: string,
  qmpSocket: string,
  ms: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const end = performance.now() + ms;
  let pause = 20;
  while (true) {
    signal?.throwIfAborted();
    if (!(await isInstanceQemu(pid, pidFile, qmpSocket))) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, 100);
  }
}

/**
 * Whether `pid` is stopped by a signal (SIGSTOP, SIGTSTP: state `T` in /proc/PID/stat, or `t`
 * under a tracer): such a QEMU accepts connections (the kernel queues them) but answers nothing.
 *
 * @returns `true` when stopped; `false` when running, gone, or /proc cannot be read.
 */
export async function isStopped(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses; the state follows the last ")".
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "T" || state === "t";
}
