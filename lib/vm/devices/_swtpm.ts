// Starts swtpm, the TPM emulator QEMU's `-tpmdev emulator` talks to, beside a VM: its control
// socket `tpm.sock` and log `tpm.log` in the VM's runtime directory, its state in `tpm/` there
// or in a directory the user keeps. QEMU connects to the control socket and hands swtpm the data
// channel; with `--terminate`, swtpm exits as soon as QEMU lets go of it, so a QEMU that is
// killed takes its TPM with it. Until QEMU connects, the reaper kills swtpm if the script ends.

import { settledWithin } from "../../_deadline.ts";
import { VmLaunchError } from "../errors.ts";
import { own } from "../_reaper.ts";
import type { Sidecar } from "./_kind.ts";

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

function collect(stream: ReadableStream<Uint8Array>): () => string {
  const decoder = new TextDecoder();
  let text = "";
  (async () => {
    try {
      for await (const chunk of stream) {
        text = (text + decoder.decode(chunk, { stream: true })).slice(-TAIL_BYTES);
      }
    } catch {
      // The pipe closes with the process.
    }
  })();
  return () => text;
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
  const ownState = options.statePath === undefined;
  // swtpm runs in the runtime directory and is given its files by relative names: its option
  // lists cannot hold a comma, and a runtime directory may have one. For the same reason the
  // state directory travels in TPM_PATH, absolute, since swtpm's cwd is not the script's.
  const stateDir = ownState
    ? `${runtimeDir}/${STATE}`
    : options.statePath!.startsWith("/")
    ? options.statePath!
    : `${Deno.cwd()}/${options.statePath}`;
  if (ownState) await Deno.mkdir(stateDir, { mode: 0o700 });
  else {
    await makeStateDir(stateDir);
    const holder = await stateHolder(stateDir);
    if (holder !== undefined) {
      throw new Deno.errors.Busy(
        `Cannot start the TPM: state directory "${stateDir}" is in use by process ${holder} (the TPM of another VM); a TPM's state serves one VM at a time`,
      );
    }
  }
  const args = [
    "socket",
    "--ctrl",
    `type=unixio,path=${SWTPM_SOCKET},mode=0600`,
    "--log",
    `file=${LOG}`,
    // Exit when QEMU closes the data channel (QEMU quit or was killed).
    "--terminate",
    ...options.version === "2.0" ? ["--tpm2"] : [],
  ];
  const argv = ["swtpm", ...args];
  const removeMade = async () => {
    for (const name of [SWTPM_SOCKET, LOG]) {
      await Deno.remove(`${runtimeDir}/${name}`).catch(() => {});
    }
    if (ownState) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  };
  let process: Deno.ChildProcess;
  try {
    process = new Deno.Command("swtpm", {
      args,
      cwd: runtimeDir,
      env: { TPM_PATH: stateDir },
      // A session of its own, as QEMU has: a Ctrl-C in the script's terminal is not its to see.
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await removeMade();
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        "Cannot start the TPM: swtpm is not installed; install it with: apt-get install swtpm",
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable(
        `Cannot start the TPM: Deno may not run swtpm; grant --allow-run=swtpm (${error.message})`,
        { cause: error },
      );
    }
    throw error;
  }
  // Like an idle VM, an idle swtpm does not keep a finished script alive.
  process.unref();
  const release = own(process, runtimeDir);
  const stderr = collect(process.stderr);
  const status = process.status;
  let exit: Deno.CommandStatus | undefined;
  status.then((s) => exit = s);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => stopped ??= stopNow();
  const stopNow = async (): Promise<void> => {
    try {
      if (exit === undefined) {
        try {
          process.kill("SIGTERM");
        } catch {
          // Exited meanwhile.
        }
        if (await settledWithin(status, 2000) === undefined) {
          try {
            process.kill("SIGKILL");
          } catch {
            // Exited meanwhile.
          }
          await status;
        }
      }
    } catch {
      // Nothing left to stop.
    } finally {
      release();
      await removeMade();
    }
  };

  const fail = async (reason: string): Promise<never> => {
    // What swtpm wrote: errors before its log is open go to stderr, the rest to the log, which
    // stop() removes.
    const log = await readTail(`${runtimeDir}/${LOG}`);
    await stop();
    const said = [stderr(), log].map((s) => s.trimEnd()).filter(Boolean).join("\n");
    // As for QEMU: swtpm's own words are the headline when it said something.
    const first = said.split("\n")[0];
    const headline = first === "" ? reason : `${first} (${reason})`;
    throw new VmLaunchError(
      `Cannot start the TPM: ${headline}\nargv: ${argv.join(" ")}\nswtpm said:\n${
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
  };

  const socket = `${runtimeDir}/${SWTPM_SOCKET}`;
  const started = performance.now();
  while (true) {
    let present: boolean;
    try {
      present = (await Deno.lstat(socket)).isSocket === true;
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        await stop();
        throw new Deno.errors.NotCapable(
          `Cannot start the TPM: Deno may not read the runtime directory to see swtpm's socket; grant --allow-read=${runtimeDir} (${error.message})`,
          { cause: error },
        );
      }
      if (!(error instanceof Deno.errors.NotFound)) {
        await stop();
        throw error;
      }
      present = false;
    }
    if (present) break;
    // Let a failed swtpm's exit and stderr arrive before looking again.
    await settledWithin(status, 10);
    if (exit !== undefined) {
      return await fail(`swtpm exited with code ${exit.code} during start-up`);
    }
    if (performance.now() - started > START_TIMEOUT) {
      return await fail(`swtpm made no control socket within ${START_TIMEOUT} ms`);
    }
  }
  return { what: `TPM emulator (swtpm, pid ${process.pid})`, stop };
}
