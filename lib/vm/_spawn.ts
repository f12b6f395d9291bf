// Starts QEMU so that it connects to sockets vmkit listens on (no polling, nothing missed), and
// runs the QMP handshake. Every failure kills QEMU, removes the runtime directory and says what
// QEMU printed. Shared by `launch()` and `probeQemu()`.

import type { WaitOptions } from "../_deadline.ts";
import { settledWithin, withDeadline } from "../_deadline.ts";
import { QmpClient } from "../qmp/client.ts";
import { VmLaunchError } from "./errors.ts";
import type { VmExit } from "./vm.ts";
import { own } from "./_reaper.ts";

const TAIL_BYTES = 64 * 1024;

/** A QEMU that has connected to every socket and finished the QMP handshake. */
export interface SpawnedQemu {
  process: Deno.ChildProcess;
  qmp: QmpClient;
  /** The other connections, in the order of `sockets`. */
  conns: Deno.Conn[];
  stderr: () => string;
  exited: Promise<VmExit>;
  release: () => void;
  launchedAt: number;
}

/** What to start. */
export interface SpawnRequest extends WaitOptions {
  binary: string;
  /** Arguments; they point QEMU at `runtimeDir/<socket>` for every socket. */
  args: string[];
  /** An existing, private directory; removed on failure. */
  runtimeDir: string;
  /** Socket file names vmkit listens on, in `runtimeDir`; `qmp.sock` is the QMP monitor. */
  sockets: string[];
  /** Files QEMU makes outside `runtimeDir` (extra QMP sockets), removed with it. */
  files?: readonly string[];
  /** The Debian package to name when the binary is missing. */
  debianPackage: string;
  /** What is being done, for messages: "launch VM". */
  action: string;
  /** Hint added when Deno may not listen on the sockets. */
  permissionHint: string;
}

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

/**
 * QEMU's own words for why it stopped: the first line of stderr of the form `qemu-system-x86_64:
 * ...` (or `qemu: ...`) that is not a warning, without that prefix.
 */
export function qemuErrorLine(stderr: string): string | undefined {
  for (const line of stderr.split("\n")) {
    const match = /^qemu(?:-system-[\w]+)?: (.+)$/.exec(line.trim());
    if (match !== null && !/^warning:/i.test(match[1])) return match[1];
  }
  return undefined;
}

function closeAll(items: { close(): void }[]): void {
  for (const item of items) {
    try {
      item.close();
    } catch {
      // Already closed.
    }
  }
}

/** Starts QEMU as described; see the file comment. */
export async function spawnQemu(request: SpawnRequest): Promise<SpawnedQemu> {
  const { binary, args, runtimeDir, signal } = request;
  const timeout = request.timeout ?? 30_000;
  const fullArgv = [binary, ...args];
  const removeDir = () => Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
  let listeners: Deno.UnixListener[];
  try {
    listeners = request.sockets.map((name) =>
      Deno.listen({ transport: "unix", path: `${runtimeDir}/${name}` })
    );
  } catch (error) {
    await removeDir();
    if (error instanceof Deno.errors.NotCapable) error.message += ` (${request.permissionHint})`;
    throw error;
  }
  let process: Deno.ChildProcess;
  const launchedAt = performance.now();
  try {
    process = new Deno.Command(binary, {
      args,
      // A session of its own: a Ctrl-C typed in the script's terminal (SIGINT to the whole
      // foreground process group) reaches the script, which shuts its VMs down as it decides,
      // not QEMU, which would quit on the spot.
      detached: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    closeAll(listeners);
    await removeDir();
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot ${request.action}: QEMU binary "${binary}" is not installed; install it with: apt-get install ${request.debianPackage}`,
        { cause: error },
      );
    }
    throw error;
  }
  const release = own(process, runtimeDir, request.files);
  const stderr = collect(process.stderr);
  collect(process.stdout);
  const exited = process.status.then((status) => ({
    code: status.code,
    signal: status.signal,
    success: status.success,
  }));
  let conns: Deno.Conn[] = [];

  const fail = async (message: string, cause?: unknown): Promise<never> => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    const exit = await exited;
    closeAll([...listeners, ...conns]);
    await removeDir();
    for (const file of request.files ?? []) await Deno.remove(file).catch(() => {});
    release();
    // Give the stderr reader the last bytes the pipe held.
    await new Promise((resolve) => setTimeout(resolve, 0));
    // When QEMU said why it stopped, that is the headline; how vmkit noticed comes after.
    const said = qemuErrorLine(stderr());
    const how = exit.signal === null
      ? `QEMU exited with code ${exit.code}`
      : exit.signal === "SIGSYS"
      ? "QEMU was killed by SIGSYS: its seccomp sandbox (-sandbox) denied a system call"
      : message;
    const headline = said === undefined ? message : `${said} (${how})`;
    throw new VmLaunchError(
      `Cannot ${request.action}: ${headline}\nargv: ${fullArgv.join(" ")}\nstderr:\n${
        stderr().trimEnd() || "(empty)"
      }`,
      { argv: fullArgv, stderr: stderr(), exit, cause },
    );
  };

  const earlyExit = exited.then((exit) => {
    throw new Error(`QEMU exited during start-up with code ${exit.code}`);
  });
  earlyExit.catch(() => {});
  try {
    conns = await withDeadline(
      Promise.race([Promise.all(listeners.map((listener) => listener.accept())), earlyExit]),
      { signal, timeout },
      () => new Error(`QEMU did not connect to its sockets within ${timeout} ms`),
    );
  } catch (error) {
    // Let stderr drain before it is reported.
    await settledWithin(exited, 100);
    return await fail(error instanceof Error ? error.message : String(error), error);
  }
  closeAll(listeners);
  const qmpIndex = request.sockets.indexOf("qmp.sock");
  const [qmpConn] = conns.splice(qmpIndex, 1);
  try {
    const remaining = Math.max(1, timeout - (performance.now() - launchedAt));
    const qmp = await QmpClient.fromConn(qmpConn, { timeout: remaining, signal });
    return { process, qmp, conns, stderr, exited, release, launchedAt };
  } catch (error) {
    // QEMU closing QMP at start-up is QEMU exiting: let it, and its stderr drain.
    await settledWithin(exited, 100);
    return await fail(
      `QMP did not start: ${error instanceof Error ? error.message : error}`,
      error,
    );
  }
}
