/**
 * Starting QEMU: checks first, then the process, the console and QMP connections, with every
 * failure reported with QEMU's own words.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import { QmpClient } from "../qmp/client.ts";
import type { VmBuilder } from "./builder.ts";
import { Console } from "./console.ts";
import { Vm, type VmExit } from "./vm.ts";
import { envVar } from "../_env.ts";
import { own } from "./_reaper.ts";
import { archProfile } from "./arch.ts";

/** Options of `launch()`. */
export interface LaunchOptions extends WaitOptions {
  /**
   * Use exactly this directory for the sockets (made with mode 0700; it must not exist yet),
   * instead of a new random one. Deno grants unix sockets only by exact path, so a script run
   * with `--allow-net=unix:DIR/console.sock,unix:DIR/qmp.sock` passes `runtimeDir: DIR`.
   */
  runtimeDir?: string;
  /**
   * Where to make the private runtime directory. Default `$XDG_RUNTIME_DIR`, else `$TMPDIR`,
   * else `/tmp` (environment variables are read only when Deno may).
   */
  runtimeDirBase?: string;
  /** The guest's shell prompt, for `console.exec`. Default: `#` or `$` and a space at the end. */
  prompt?: RegExp;
}

/** QEMU exited, or did not come up, during start-up. */
export class VmLaunchError extends Error {
  override readonly name = "VmLaunchError";
  /** The binary and arguments that were run. */
  readonly argv: readonly string[];
  /** What QEMU wrote to stderr. */
  readonly stderr: string;
  /** QEMU's exit, when it exited. */
  readonly exit?: VmExit;

  /**
   * @param message What went wrong.
   * @param details The argv, stderr and exit, and the cause.
   */
  constructor(
    message: string,
    details: { argv: readonly string[]; stderr: string; exit?: VmExit; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.argv = details.argv;
    this.stderr = details.stderr;
    if (details.exit !== undefined) this.exit = details.exit;
  }
}

const TAIL_BYTES = 64 * 1024;

function collect(stream: ReadableStream<Uint8Array>): () => string {
  const decoder = new TextDecoder();
  let text = "";
  (async () => {
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 2 * TAIL_BYTES) text = text.slice(-TAIL_BYTES);
      }
    } catch {
      // The pipe closes with the process.
    }
  })();
  return () => text.slice(-TAIL_BYTES);
}

function exitOf(status: Deno.CommandStatus): VmExit {
  return { code: status.code, signal: status.signal, success: status.success };
}

function runtimeBase(): string {
  return envVar("XDG_RUNTIME_DIR") || envVar("TMPDIR") || "/tmp";
}

/**
 * Launches the VM a builder describes. Use `builder.launch()`.
 *
 * @param builder The VM description.
 * @param options Start-up time limit (default 30 s), signal, runtime directory base, prompt.
 * @returns The running VM.
 */
export async function launchVm(builder: VmBuilder, options: LaunchOptions = {}): Promise<Vm> {
  checkTimeout("launch the VM", options.timeout);
  const timeout = options.timeout ?? 30_000;
  for (const { what, path } of builder.inputFiles) {
    try {
      const info = await Deno.stat(path);
      if (info.isDirectory) {
        throw new TypeError(`Cannot launch VM: ${what} "${path}" is a directory`);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot launch VM: ${what} "${path}" does not exist`);
      }
      throw error;
    }
  }
  const accel = builder.resolveAccel();
  let runtimeDir: string;
  if (options.runtimeDir !== undefined) {
    runtimeDir = options.runtimeDir;
    try {
      await Deno.mkdir(runtimeDir, { mode: 0o700 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) {
        throw new Deno.errors.AlreadyExists(
          `Cannot launch VM in runtime directory "${runtimeDir}": it already exists (another VM may be using it)`,
        );
      }
      throw error;
    }
  } else {
    runtimeDir = await Deno.makeTempDir({
      dir: options.runtimeDirBase ?? runtimeBase(),
      prefix: "vmkit-",
    });
  }
  await Deno.chmod(runtimeDir, 0o700);
  let consoleListener: Deno.UnixListener;
  let qmpListener: Deno.UnixListener;
  try {
    consoleListener = Deno.listen({ transport: "unix", path: `${runtimeDir}/console.sock` });
    qmpListener = Deno.listen({ transport: "unix", path: `${runtimeDir}/qmp.sock` });
  } catch (error) {
    await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
    if (error instanceof Deno.errors.NotCapable) {
      error.message +=
        ` (vmkit listens on console.sock and qmp.sock in its runtime directory; pass launch({ runtimeDir }) and grant --allow-net=unix:DIR/console.sock,unix:DIR/qmp.sock)`;
    }
    throw error;
  }
  const argv = builder.toArgv({ runtimeDir, accel: accel.accel });
  const binary = builder.binary;
  const fullArgv = [binary, ...argv];
  const cleanupDir = async () => {
    for (const listener of [consoleListener, qmpListener]) {
      try {
        listener.close();
      } catch {
        // Already closed after accepting.
      }
    }
    await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
  };

  let process: Deno.ChildProcess;
  const launchedAt = performance.now();
  try {
    process = new Deno.Command(binary, {
      args: argv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await cleanupDir();
    if (error instanceof Deno.errors.NotFound) {
      const pkg = archProfile(builder.arch).debianPackage;
      throw new Deno.errors.NotFound(
        `Cannot launch VM: QEMU binary "${binary}" is not installed; install it with: apt-get install ${pkg}`,
        { cause: error },
      );
    }
    throw error;
  }
  const release = own(process, runtimeDir);
  const stderr = collect(process.stderr);
  collect(process.stdout);
  const exited = process.status.then(exitOf);

  const fail = async (message: string, cause?: unknown): Promise<never> => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    const exit = await exited;
    await cleanupDir();
    release();
    // Give the stderr reader the last bytes the pipe held.
    await new Promise((resolve) => setTimeout(resolve, 0));
    throw new VmLaunchError(
      `${message}\nargv: ${fullArgv.join(" ")}\nstderr:\n${stderr().trimEnd() || "(empty)"}`,
      { argv: fullArgv, stderr: stderr(), exit, cause },
    );
  };

  let consoleConn: Deno.Conn;
  let qmpConn: Deno.Conn;
  const earlyExit = exited.then((exit) => {
    throw Object.assign(new Error(`QEMU exited during start-up with code ${exit.code}`), { exit });
  });
  earlyExit.catch(() => {});
  try {
    [consoleConn, qmpConn] = await withDeadline(
      Promise.race([Promise.all([consoleListener.accept(), qmpListener.accept()]), earlyExit]),
      { signal: options.signal, timeout },
      () => new Error(`QEMU did not connect its console and QMP within ${timeout} ms`),
    );
  } catch (error) {
    // Let stderr drain before it is reported.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
    return await fail(
      `Cannot launch VM: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
  consoleListener.close();
  qmpListener.close();
  const console = new Console(consoleConn, options.prompt ? { prompt: options.prompt } : {});
  let qmp: QmpClient;
  try {
    const remaining = Math.max(1, timeout - (performance.now() - launchedAt));
    qmp = await QmpClient.fromConn(qmpConn, { timeout: remaining, signal: options.signal });
  } catch (error) {
    await console.close().catch(() => {});
    return await fail(
      `Cannot launch VM: QMP did not start: ${error instanceof Error ? error.message : error}`,
      error,
    );
  }
  return new Vm({
    process,
    qmp,
    console,
    runtimeDir,
    argv,
    binary,
    accel,
    stderr,
    exited,
    release,
    launchedAt,
  });
}
