/**
 * Starting QEMU: checks first, then the process, the console and QMP connections, with every
 * failure reported with QEMU's own words.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { LaunchFacts, Sidecar, VmSpec } from "./spec.ts";
import { Console } from "./console.ts";
import { Vm } from "./vm.ts";
import { checkRunnable } from "./_runnable.ts";
import { envVar } from "../_env.ts";
import { archProfile } from "./arch.ts";
import { type SpawnedQemu, spawnQemu } from "./_spawn.ts";
import { MAX_SOCKET_PATH_BYTES, overlongSocketPath } from "./_checks.ts";
import { preflight } from "./preflight.ts";
import { GUEST_AGENT_SOCKET } from "./devices/guest_agent.ts";
import { forwardedPort } from "../ssh/forwarded_port.ts";
import type { VmParts } from "./vm_types.ts";
import { checkLaunchInputs, checkQmpSocketsFree, readDriveFormats } from "./_launch_checks.ts";

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
  /**
   * Check the VM against the installed QEMU first (`builder.check()`), so a missing device or
   * machine type is reported as a `VmCheckError` before anything starts. Default false.
   */
  check?: boolean;
}

/** The longest socket vmkit may put in a runtime directory. */
const LONGEST_SOCKET = "/migration.sock";

function checkSocketRoom(what: string, dir: string): void {
  const bytes = overlongSocketPath(dir + LONGEST_SOCKET);
  if (bytes !== undefined) {
    throw new RangeError(
      `Cannot launch VM in ${what} "${dir}": it is too long for the unix sockets it holds (${bytes} bytes with "${LONGEST_SOCKET}"; at most ${MAX_SOCKET_PATH_BYTES}); use a shorter one`,
    );
  }
}

/** Makes the private (0700) runtime directory: the exact one asked for, or a new one. */
async function makeRuntimeDir(options: LaunchOptions): Promise<string> {
  if (options.runtimeDir !== undefined) {
    const dir = options.runtimeDir;
    checkSocketRoom("runtime directory", dir);
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) {
        throw new Deno.errors.AlreadyExists(
          `Cannot launch VM in runtime directory "${dir}": it already exists; another VM may be using it, or a script using it was killed (then no QEMU has it in its command line, and it can be removed)`,
          { cause: error },
        );
      }
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `Cannot launch VM in runtime directory "${dir}": its parent directory does not exist`,
          { cause: error },
        );
      }
      throw error;
    }
    await Deno.chmod(dir, 0o700);
    return dir;
  }
  const base = options.runtimeDirBase ?? runtimeBase();
  // "vmkit-" and 16 random characters.
  checkSocketRoom("runtime directory base", `${base}/vmkit-0123456789abcdef`);
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ dir: base, prefix: "vmkit-" });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      throw new (error.constructor as typeof Deno.errors.NotFound)(
        `Cannot launch VM: runtime directory base "${base}" ${
          error instanceof Deno.errors.NotFound ? "does not exist" : "is not a directory"
        }; create it, or pass another runtimeDirBase`,
        { cause: error },
      );
    }
    throw error;
  }
  await Deno.chmod(dir, 0o700);
  return dir;
}

function runtimeBase(): string {
  return envVar("XDG_RUNTIME_DIR") || envVar("TMPDIR") || "/tmp";
}

/** Starts the sidecars in the runtime directory; on failure removes the directory. */
async function startSidecars(
  builder: VmSpec,
  runtimeDir: string,
): Promise<{ sidecars: Sidecar[]; facts: LaunchFacts }> {
  try {
    return await builder.startSidecars(runtimeDir);
  } catch (error) {
    await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Stops the sidecars, last started first. */
async function stopSidecars(sidecars: readonly Sidecar[]): Promise<void> {
  for (const sidecar of [...sidecars].reverse()) {
    await sidecar.stop();
  }
}

/** Starts QEMU with its console and QMP sockets in the runtime directory. */
function spawnVmQemu(
  builder: VmSpec,
  options: WaitOptions & { binary: string; argv: string[]; runtimeDir: string },
): Promise<SpawnedQemu> {
  return spawnQemu({
    binary: options.binary,
    args: options.argv,
    runtimeDir: options.runtimeDir,
    sockets: ["console.sock", "qmp.sock", ...builder.hasGuestAgent ? [GUEST_AGENT_SOCKET] : []],
    files: builder.qmpSockets,
    debianPackage: archProfile(builder.arch).debianPackage,
    action: "launch VM",
    permissionHint: `vmkit listens on console.sock and qmp.sock${
      builder.hasGuestAgent ? ` and ${GUEST_AGENT_SOCKET}` : ""
    } in its runtime directory; pass launch({ runtimeDir }) and grant --allow-net=unix:DIR/console.sock,unix:DIR/qmp.sock${
      builder.hasGuestAgent ? `,unix:DIR/${GUEST_AGENT_SOCKET}` : ""
    }`,
    timeout: options.timeout,
    signal: options.signal,
  });
}

/** The guest console, on the first socket QEMU connected to. */
function openConsole(spawned: SpawnedQemu, prompt: RegExp | undefined): Console {
  return new Console(spawned.conns[0], {
    ...prompt ? { prompt } : {},
    exited: spawned.exited,
    checkRunnable: (action) => checkRunnable(spawned.qmp, action),
  });
}

/**
 * Launches the VM a builder describes. Use `builder.launch()`.
 *
 * @param builder The VM description.
 * @param options Start-up time limit (default 30 s), signal, runtime directory base, prompt.
 * @returns The running VM.
 */
export async function launchVm(description: VmSpec, options: LaunchOptions = {}): Promise<Vm> {
  checkTimeout("launch the VM", options.timeout);
  const timeout = options.timeout ?? 30_000;
  // Firmware named by what it is ("uefi") is found in QEMU's firmware descriptors first.
  const builder = await description.resolved();
  await checkLaunchInputs(builder);
  const driveFormats = await readDriveFormats(builder);
  await checkQmpSocketsFree(builder.qmpSockets);
  const accel = builder.resolveAccel();
  if (options.check) {
    await preflight(builder.binary, builder.toArgv({ accel: accel.accel, driveFormats }), {
      timeout,
      signal: options.signal,
    });
  }
  const runtimeDir = await makeRuntimeDir(options);
  // Sidecars first: what they learn (a seed server's port) goes into the command line.
  const { sidecars, facts } = await startSidecars(builder, runtimeDir);
  let argv: string[];
  try {
    argv = builder.toArgv({ runtimeDir, accel: accel.accel, driveFormats, facts });
  } catch (error) {
    await stopSidecars(sidecars);
    await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
    throw error;
  }
  const binary = builder.binary;
  const spawned = await spawnVmQemu(builder, {
    binary,
    argv,
    runtimeDir,
    timeout,
    signal: options.signal,
  }).catch(async (error) => {
    await stopSidecars(sidecars);
    throw error;
  });
  const console = openConsole(spawned, options.prompt);
  const parts: VmParts = {
    process: spawned.process,
    qmp: spawned.qmp,
    console,
    runtimeDir,
    argv,
    binary,
    accel,
    stderr: spawned.stderr,
    exited: spawned.exited,
    release: spawned.release,
    launchedAt: spawned.launchedAt,
    builder,
    sidecars,
    agentConn: builder.hasGuestAgent ? spawned.conns[1] : undefined,
    facts,
  };
  if (facts.ssh !== undefined) {
    // The OS picked the forward's host port as QEMU bound it; QEMU says which.
    try {
      parts.sshPort = await forwardedPort(spawned.qmp, { guestPort: 22, timeout: 5000 });
    } catch (error) {
      const doomed = new Vm(parts);
      doomed.kill();
      await doomed[Symbol.asyncDispose]();
      throw error;
    }
  }
  return new Vm(parts);
}
