// Starts swtpm, the TPM emulator QEMU's `-tpmdev emulator` talks to, beside a VM: its control
// socket `tpm.sock` and log `tpm.log` in the VM's runtime directory, its state in `tpm/` there
// or in a directory the user keeps. QEMU connects to the control socket and hands swtpm the data
// channel; with `--terminate`, swtpm exits as soon as QEMU lets go of it, so a QEMU that is
// killed takes its TPM with it. Until QEMU connects, the reaper kills swtpm if the script ends.

import { spawnProgram } from "../../_command.ts";
import { settledWithin } from "../../_deadline.ts";
import { VmLaunchError } from "../errors.ts";
import { own } from "../_reaper.ts";
import type { Sidecar } from "./_kind.ts";
import { collectTail } from "../_output_tail.ts";
import { shellQuote } from "../qemu_opts.ts";

/** The control socket's name in the runtime directory. */
export const SWTPM_SOCKET = "tpm.sock";
const LOG = "tpm.log";
const STATE = "tpm";
const START_TIMEOUT = 10_000;
const TAIL_BYTES = 16 * 1024;

/** What to start. */
export interface SwtpmOptions {
  /** The TPM version. */
  version: "2.0" | "1.2";
  /** A state directory the user keeps; made if missing. Default: `tpm/` in the runtime dir. */
  statePath?: string;
}

async function readTail(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).slice(-TAIL_BYTES);
  } catch {
    return "";
  }
}

/** Makes the state directory the user keeps, if missing; its parent must exist. */
async function makeStateDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { mode: 0o700 });
    return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot start the TPM: state directory "${path}" cannot be made, its parent directory does not exist`,
        { cause: error },
      );
    }
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  if (!(await Deno.stat(path)).isDirectory) {
    throw new TypeError(`Cannot start the TPM: state directory "${path}" is not a directory`);
  }
}

/**
 * The pid of the process that holds a state directory: swtpm takes a POSIX write lock on its
 * `.lock` when QEMU starts the TPM, and a second swtpm on the same directory fails only then,
 * leaving QEMU to say `TPM result for CMD_INIT: 0x9`. `/proc/locks` names the holder before
 * anything starts. Undefined when the directory is free or the lock table cannot be read.
 */
async function stateHolder(stateDir: string): Promise<number | undefined> {
  let lock: Deno.FileInfo;
  let table: string;
  try {
    lock = await Deno.stat(`${stateDir}/.lock`);
    table = await Deno.readTextFile("/proc/locks");
  } catch {
    return undefined;
  }
  if (lock.dev === null || lock.ino === null) return undefined;
  // st_dev as glibc splits it; /proc/locks prints MAJOR:MINOR in hex, then the inode.
  const dev = BigInt(lock.dev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  for (const line of table.split("\n")) {
    // 3: POSIX  ADVISORY  WRITE 3582 fe:00:2146434 0 EOF
    const match = /^\d+: POSIX +\S+ +WRITE +(\d+) +([0-9a-f]+):([0-9a-f]+):(\d+) /.exec(line);
    if (
      match !== null && BigInt(`0x${match[2]}`) === major && BigInt(`0x${match[3]}`) === minor &&
      Number(match[4]) === lock.ino
    ) {
      return Number(match[1]);
    }
  }
  return undefined;
}

/** The state directory swtpm uses, and whether vmkit made it (and removes it). */
async function stateDirectory(
  runtimeDir: string,
  statePath: string | undefined,
): Promise<{ dir: string; ours: boolean }> {
  if (statePath === undefined) {
    const dir = `${runtimeDir}/${STATE}`;
    await Deno.mkdir(dir, { mode: 0o700 });
    return { dir, ours: true };
  }
  // The state directory travels in TPM_PATH, absolute, since swtpm's cwd is not the script's.
  const dir = statePath.startsWith("/") ? statePath : `${Deno.cwd()}/${statePath}`;
  await makeStateDir(dir);
  const holder = await stateHolder(dir);
  if (holder !== undefined) {
    throw new Deno.errors.Busy(
      `Cannot start the TPM: state directory "${dir}" is in use by process ${holder} (the TPM of another VM); a TPM's state serves one VM at a time`,
    );
  }
  return { dir, ours: false };
}

/** swtpm's arguments: its files by relative names, since its option lists cannot hold a comma. */
function swtpmArgs(version: SwtpmOptions["version"]): string[] {
  return [
    "socket",
    "--ctrl",
    `type=unixio,path=${SWTPM_SOCKET},mode=0600`,
    "--log",
    `file=${LOG}`,
    // Exit when QEMU closes the data channel (QEMU quit or was killed).
    "--terminate",
    ...version === "2.0" ? ["--tpm2"] : [],
  ];
}

/** Starts the process, naming a missing binary or permission. */
function spawnSwtpm(args: string[], runtimeDir: string, stateDir: string): Deno.ChildProcess {
  try {
    return spawnProgram("swtpm", {
      args,
      cwd: runtimeDir,
      env: { TPM_PATH: stateDir },
      // A session of its own, as QEMU has: a Ctrl-C in the script's terminal is not its to see.
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      missing:
        "Cannot start the TPM: swtpm is not installed; install it with: apt-get install swtpm",
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable(
        `Cannot start the TPM: Deno may not run swtpm; grant --allow-run=swtpm (${error.message})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** A started swtpm: how it exited (if it did), what it wrote, and how to stop it. */
interface RunningSwtpm {
  readonly process: Deno.ChildProcess;
  exit(): Deno.CommandStatus | undefined;
  stderr(): string;
  stop(): Promise<void>;
}

/** Watches a started swtpm; `stop()` (once, never throwing) ends it and removes its files. */
function watchSwtpm(
  process: Deno.ChildProcess,
  runtimeDir: string,
  removeMade: () => Promise<void>,
): RunningSwtpm {
  // Like an idle VM, an idle swtpm does not keep a finished script alive.
  process.unref();
  const release = own(process, runtimeDir);
  const stderr = collectTail(process.stderr, TAIL_BYTES);
  let exit: Deno.CommandStatus | undefined;
  process.status.then((s) => exit = s);
  const kill = (signal: Deno.Signal) => {
    try {
      process.kill(signal);
    } catch {
      // Exited meanwhile.
    }
  };
  let stopped: Promise<void> | undefined;
  const stopNow = async () => {
    try {
      if (exit === undefined) {
        kill("SIGTERM");
        if (await settledWithin(process.status, 2000) === undefined) {
          kill("SIGKILL");
          await process.status;
        }
      }
    } catch {
      // Nothing left to stop.
    } finally {
      release();
      await removeMade();
    }
  };
  return { process, exit: () => exit, stderr, stop: () => stopped ??= stopNow() };
}

/** Stops swtpm and throws with what it said: stderr before its log is open, then the log. */
async function failStart(
  swtpm: RunningSwtpm,
  runtimeDir: string,
  argv: string[],
  reason: string,
): Promise<never> {
  const log = await readTail(`${runtimeDir}/${LOG}`);
  await swtpm.stop();
  const said = [swtpm.stderr(), log].map((s) => s.trimEnd()).filter(Boolean).join("\n");
  // As for QEMU: swtpm's own words are the headline when it said something.
  const first = said.split("\n")[0];
  const headline = first === "" ? reason : `${first} (${reason})`;
  const exit = swtpm.exit();
  throw new VmLaunchError(
    `Cannot start the TPM: ${headline}\nargv: ${argv.map(shellQuote).join(" ")}\nswtpm said:\n${
      said || "(nothing)"
    }`,
    {
      argv,
      stderr: said,
      ...exit === undefined
        ? {}
        : { exit: { code: exit.code, signal: exit.signal, success: exit.success } },
    },
  );
}

/** Whether swtpm's control socket is there yet. */
async function socketPresent(swtpm: RunningSwtpm, runtimeDir: string): Promise<boolean> {
  try {
    return (await Deno.lstat(`${runtimeDir}/${SWTPM_SOCKET}`)).isSocket === true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    await swtpm.stop();
    if (error instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable(
        `Cannot start the TPM: Deno may not read the runtime directory to see swtpm's socket; grant --allow-read=${runtimeDir} (${error.message})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Waits until swtpm made its control socket, failing with its words if it exits first. */
async function waitForSocket(
  swtpm: RunningSwtpm,
  runtimeDir: string,
  argv: string[],
): Promise<void> {
  const started = performance.now();
  while (!await socketPresent(swtpm, runtimeDir)) {
    // Let a failed swtpm's exit and stderr arrive before looking again.
    await settledWithin(swtpm.process.status, 10);
    const exit = swtpm.exit();
    if (exit !== undefined) {
      await failStart(
        swtpm,
        runtimeDir,
        argv,
        `swtpm exited with code ${exit.code} during start-up`,
      );
    }
    if (performance.now() - started > START_TIMEOUT) {
      await failStart(
        swtpm,
        runtimeDir,
        argv,
        `swtpm made no control socket within ${START_TIMEOUT} ms`,
      );
    }
  }
}

/**
 * Starts swtpm in `runtimeDir` and resolves once its control socket is there.
 *
 * @param runtimeDir The VM's runtime directory (exists, private).
 * @param options The TPM version and state directory.
 * @returns The running swtpm; `stop()` ends it and removes what it made in `runtimeDir`.
 * @throws {Deno.errors.NotFound} When swtpm is not installed, or the state directory's parent
 *   is missing.
 * @throws {Deno.errors.Busy} When another swtpm holds the state directory.
 * @throws {VmLaunchError} When swtpm exits, or makes no socket, during start-up (with what it
 *   wrote to stderr and its log).
 */
export async function startSwtpm(runtimeDir: string, options: SwtpmOptions): Promise<Sidecar> {
  const state = await stateDirectory(runtimeDir, options.statePath);
  const removeMade = async () => {
    for (const name of [SWTPM_SOCKET, LOG]) {
      await Deno.remove(`${runtimeDir}/${name}`).catch(() => {});
    }
    if (state.ours) await Deno.remove(state.dir, { recursive: true }).catch(() => {});
  };
  const args = swtpmArgs(options.version);
  let process: Deno.ChildProcess;
  try {
    process = spawnSwtpm(args, runtimeDir, state.dir);
  } catch (error) {
    await removeMade();
    throw error;
  }
  const swtpm = watchSwtpm(process, runtimeDir, removeMade);
  await waitForSocket(swtpm, runtimeDir, ["swtpm", ...args]);
  return { what: `TPM emulator (swtpm, pid ${process.pid})`, stop: swtpm.stop };
}
