// Runs QEMU with -daemonize: the process we start forks the real QEMU, which sets itself up
// (opens its files and sockets, starts the machine) and tells the first one, which then exits
// 0, or exits non-zero when the set-up failed. With -D, QEMU writes its messages (the errors of
// a failed start too) to that log instead of stderr, so both are read for the report. The log is
// emptied before each start (QEMU truncates it when it opens it, which may be only once it has
// something to say), so what it holds afterwards is this start's.

import { qemuErrorLine } from "../vm/_spawn.ts";
import { shellQuote } from "../vm/qemu_opts.ts";
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

/** Empties QEMU's log (a missing one is fine): what it holds after the start is this start's. */
async function emptyLog(path: string): Promise<void> {
  try {
    await Deno.truncate(path, 0);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** What QEMU wrote to its log, ending with a newline when it wrote anything. */
async function logText(path: string): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}

/** A command line to paste into a shell. */
export function argvLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/**
 * Starts QEMU as a daemon and returns its pid once it has set itself up.
 *
 * @throws {Deno.errors.NotFound} When the binary is missing (naming the package).
 * @throws {VmLaunchError} When QEMU fails, with what it said and the argv.
 */
export async function daemonizeQemu(request: DaemonizeRequest): Promise<number> {
  const { binary, argv, name } = request;
  await emptyLog(request.qemuLog);
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
  const stderr = decoder.decode(output.stderr);
  const said = `${stderr === "" || stderr.endsWith("\n") ? stderr : `${stderr}\n`}${await logText(
    request.qemuLog,
  )}`;
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
        argvLine(fullArgv)
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
        argvLine(fullArgv)
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
        argvLine(fullArgv)
      }`,
      { argv: fullArgv, stderr: said },
    );
  }
  return pid;
}
