// Runs QEMU with -daemonize: the process we start forks the real QEMU, which sets itself up
// (opens its files and sockets, starts the machine) and tells the first one, which then exits
// 0, or exits non-zero when the set-up failed. With -D, QEMU writes its messages (the errors of
// a failed start too) to that log instead of stderr, so both are read for the report.

import { qemuErrorLine } from "../vm/_spawn.ts";
import { VmLaunchError } from "../vm/errors.ts";
import { readPidFile } from "./_qemu_process.ts";

/** What to run. */
export interface DaemonizeRequest {
  /** The instance's name, for messages. */
  name: string;
  /** The QEMU binary. */
  binary: string;
  /** Its arguments, `-daemonize`, `-pidfile` and `-D` included. */
  argv: string[];
  /** QEMU's pid file. */
  pidFile: string;
  /** QEMU's log (`-D`). */
  qemuLog: string;
  /** The Debian package to name when the binary is missing. */
  debianPackage: string;
  /** Time limit for QEMU to set itself up. */
  timeout: number;
  /** Cancels the start (QEMU is killed). */
  signal?: AbortSignal;
}

const decoder = new TextDecoder();

async function logSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** What QEMU wrote to its log from `offset` on (all of it when the file was truncated). */
async function logSince(path: string, offset: number): Promise<string> {
  try {
    const bytes = await Deno.readFile(path);
    return decoder.decode(bytes.length >= offset ? bytes.subarray(offset) : bytes);
  } catch {
    return "";
  }
}

/**
 * Starts QEMU as a daemon and returns its pid once it has set itself up.
 *
 * @throws {Deno.errors.NotFound} When the binary is missing (naming the package).
 * @throws {VmLaunchError} When QEMU fails, with what it said and the argv.
 */
export async function daemonizeQemu(request: DaemonizeRequest): Promise<number> {
  const { binary, argv, name } = request;
  const offset = await logSize(request.qemuLog);
  const fullArgv = [binary, ...argv];
  const stopper = new AbortController();
  const onAbort = () => stopper.abort(request.signal!.reason);
  request.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => stopper.abort("timeout"), request.timeout);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(binary, {
      args: argv,
      // A session of its own: a Ctrl-C in vmkit's terminal during the start reaches vmkit only
      // (the daemon makes its own session as it forks).
      detached: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: stopper.signal,
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot start instance "${name}": QEMU binary "${binary}" is not installed; install it with: apt-get install ${request.debianPackage}`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
  }
  const said = `${decoder.decode(output.stderr)}${await logSince(request.qemuLog, offset)}`;
  if (stopper.signal.aborted) {
    // QEMU's first process was killed; the daemon may exist already.
    const pid = await readPidFile(request.pidFile);
    if (pid !== undefined) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    if (stopper.signal.reason !== "timeout") throw stopper.signal.reason;
    throw new VmLaunchError(
      `Cannot start instance "${name}": QEMU did not set itself up within ${request.timeout} ms\nargv: ${
        fullArgv.join(" ")
      }\nqemu.log:\n${said.trimEnd() || "(empty)"}`,
      { argv: fullArgv, stderr: said },
    );
  }
  if (!output.success) {
    const line = qemuErrorLine(said);
    const how = output.signal === null
      ? `QEMU exited with code ${output.code}`
      : `QEMU was killed by ${output.signal}`;
    throw new VmLaunchError(
      `Cannot start instance "${name}": ${line === undefined ? how : `${line} (${how})`}\nargv: ${
        fullArgv.join(" ")
      }\nqemu.log:\n${said.trimEnd() || "(empty)"}`,
      {
        argv: fullArgv,
        stderr: said,
        exit: { code: output.code, signal: output.signal, success: false },
      },
    );
  }
  const pid = await readPidFile(request.pidFile);
  if (pid === undefined) {
    throw new VmLaunchError(
      `Cannot start instance "${name}": QEMU daemonized but wrote no pid to "${request.pidFile}"\nargv: ${
        fullArgv.join(" ")
      }`,
      { argv: fullArgv, stderr: said },
    );
  }
  return pid;
}
