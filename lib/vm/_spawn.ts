// Starts QEMU so that it connects to sockets vmkit listens on (no polling, nothing missed), and
// runs the QMP handshake. Every failure kills QEMU, removes the runtime directory and says what
// QEMU printed. Shared by `launch()` and `probeQemu()`.

import type { WaitOptions } from "../_deadline.ts";
import { settledWithin, withDeadline } from "../_deadline.ts";
import { QmpClient } from "../qmp/client.ts";
import { VmLaunchError } from "./errors.ts";
import type { VmExit } from "./vm.ts";
import { own } from "./_reaper.ts";
import { collectTail } from "./_output_tail.ts";
import { shellQuote } from "./qemu_opts.ts";

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

/** Removes the runtime directory, if it is still there. */
function removeRuntimeDir(runtimeDir: string): Promise<void> {
  return Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
}

/** Listens on every socket of the request; on failure removes the runtime directory. */
async function listenOnSockets(request: SpawnRequest): Promise<Deno.UnixListener[]> {
  try {
    return request.sockets.map((name) =>
      Deno.listen({ transport: "unix", path: `${request.runtimeDir}/${name}` })
    );
  } catch (error) {
    await removeRuntimeDir(request.runtimeDir);
    if (error instanceof Deno.errors.NotCapable) error.message += ` (${request.permissionHint})`;
    throw error;
  }
}

/**
 * Starts the QEMU process; on failure closes the listeners and removes the runtime directory,
 * and names the package to install when the binary is missing.
 */
async function startProcess(
  request: SpawnRequest,
  listeners: Deno.UnixListener[],
): Promise<Deno.ChildProcess> {
  const { binary, args } = request;
  try {
    return new Deno.Command(binary, {
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
    await removeRuntimeDir(request.runtimeDir);
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot ${request.action}: QEMU binary "${binary}" is not installed; install it with: apt-get install ${request.debianPackage}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** A QEMU process that is starting, and what a failed start must clean up. */
interface StartingQemu {
  request: SpawnRequest;
  process: Deno.ChildProcess;
  listeners: Deno.UnixListener[];
  stderr: () => string;
  exited: Promise<VmExit>;
  release: () => void;
  launchedAt: number;
}

/** Hands the process to the reaper, and starts reading its output and waiting for its exit. */
function watchProcess(
  request: SpawnRequest,
  process: Deno.ChildProcess,
  listeners: Deno.UnixListener[],
  launchedAt: number,
): StartingQemu {
  const release = own(process, request.runtimeDir, request.files);
  const stderr = collectTail(process.stderr, TAIL_BYTES);
  collectTail(process.stdout, TAIL_BYTES);
  const exited = process.status.then((status) => ({
    code: status.code,
    signal: status.signal,
    success: status.success,
  }));
  return { request, process, listeners, stderr, exited, release, launchedAt };
}

/**
 * Ends a failed start: kills QEMU, closes the listeners and `conns`, removes the runtime
 * directory and the files QEMU made, and throws a `VmLaunchError` with what QEMU said.
 */
async function failStart(
  qemu: StartingQemu,
  conns: Deno.Conn[],
  message: string,
  cause?: unknown,
): Promise<never> {
  const { request, stderr } = qemu;
  try {
    qemu.process.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  const exit = await qemu.exited;
  closeAll([...qemu.listeners, ...conns]);
  await removeRuntimeDir(request.runtimeDir);
  for (const file of request.files ?? []) await Deno.remove(file).catch(() => {});
  qemu.release();
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
  const fullArgv = [request.binary, ...request.args];
  throw new VmLaunchError(
    `Cannot ${request.action}: ${headline}\nargv: ${fullArgv.map(shellQuote).join(" ")}\nstderr:\n${
      stderr().trimEnd() || "(empty)"
    }`,
    { argv: fullArgv, stderr: stderr(), exit, cause },
  );
}

/**
 * Waits for QEMU to connect to every socket, then closes the listeners. Fails the start when
 * QEMU exits first, or the time runs out.
 */
async function acceptConnections(qemu: StartingQemu, timeout: number): Promise<Deno.Conn[]> {
  const earlyExit = qemu.exited.then((exit) => {
    throw new Error(`QEMU exited during start-up with code ${exit.code}`);
  });
  earlyExit.catch(() => {});
  let conns: Deno.Conn[];
  try {
    conns = await withDeadline(
      Promise.race([Promise.all(qemu.listeners.map((listener) => listener.accept())), earlyExit]),
      { signal: qemu.request.signal, timeout },
      () => new Error(`QEMU did not connect to its sockets within ${timeout} ms`),
    );
  } catch (error) {
    // Let stderr drain before it is reported.
    await settledWithin(qemu.exited, 100);
    return await failStart(qemu, [], error instanceof Error ? error.message : String(error), error);
  }
  closeAll(qemu.listeners);
  return conns;
}

/**
 * Runs the QMP handshake on the `qmp.sock` connection, in the time left of `timeout`; fails the
 * start when it does not finish.
 */
async function handshake(
  qemu: StartingQemu,
  conns: Deno.Conn[],
  timeout: number,
): Promise<SpawnedQemu> {
  const { process, stderr, exited, release, launchedAt } = qemu;
  const qmpIndex = qemu.request.sockets.indexOf("qmp.sock");
  const [qmpConn] = conns.splice(qmpIndex, 1);
  try {
    const remaining = Math.max(1, timeout - (performance.now() - launchedAt));
    const qmp = await QmpClient.fromConn(qmpConn, {
      timeout: remaining,
      signal: qemu.request.signal,
    });
    return { process, qmp, conns, stderr, exited, release, launchedAt };
  } catch (error) {
    // QEMU closing QMP at start-up is QEMU exiting: let it, and its stderr drain.
    await settledWithin(exited, 100);
    return await failStart(
      qemu,
      conns,
      `QMP did not start: ${error instanceof Error ? error.message : error}`,
      error,
    );
  }
}

/** Starts QEMU as described; see the file comment. */
export async function spawnQemu(request: SpawnRequest): Promise<SpawnedQemu> {
  const timeout = request.timeout ?? 30_000;
  const listeners = await listenOnSockets(request);
  const launchedAt = performance.now();
  const process = await startProcess(request, listeners);
  const qemu = watchProcess(request, process, listeners, launchedAt);
  const conns = await acceptConnections(qemu, timeout);
  return await handshake(qemu, conns, timeout);
}
