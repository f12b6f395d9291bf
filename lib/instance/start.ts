/**
 * Starting a named instance: QEMU as a daemon that outlives the process that started it, with
 * its sockets, pid file and logs in the instance's state directory.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { QmpClient } from "../qmp/client.ts";
import { type UsernetForward, usernetForwards } from "../ssh/forwarded_port.ts";
import { VmBuilder } from "../vm/builder.ts";
import type { VmSpec } from "../vm/spec.ts";
import { checkLaunchInputs, checkQmpSocketsFree, readDriveFormats } from "../vm/_launch_checks.ts";
import { HOST_KEY_ALIAS, KNOWN_HOSTS, SSH_DIR } from "../vm/devices/ssh.ts";
import { instanceDir, type InstanceDirOptions, instanceStateBase } from "./state_dir.ts";
import { InstanceStatusError } from "./errors.ts";
import {
  descriptionSize,
  type InstanceRecord,
  readInstanceRecord,
  writeInstanceRecord,
} from "./record.ts";
import { type Instance, instanceHandle } from "./instance.ts";
import { lockInstance } from "./_lock.ts";
import { qemuState, removeStaleFiles } from "./_reconcile.ts";
import { daemonizeQemu, type DaemonizeRequest } from "./_daemonize.ts";
import { refusedForward, refusedForwardText } from "./_forward_holder.ts";
import { VmLaunchError } from "../vm/errors.ts";
import { signalPid, waitGone } from "./_qemu_process.ts";
import { CONSOLE_LOG, EVENTS_SOCKET, PID_FILE, QEMU_LOG, QMP_SOCKET } from "./_files.ts";

/** Options of {@linkcode startInstance}. */
export interface StartInstanceOptions extends InstanceDirOptions, WaitOptions {}

/**
 * The VM an instance boots: a builder, or a function that makes one given the instance's state
 * directory (called holding the instance's lock, so it may make disks there, as a definition's
 * `definitionBuilder(def, { diskDir, create: true })` does).
 */
export type InstanceVm = VmBuilder | ((dir: string) => VmBuilder | Promise<VmBuilder>);

/**
 * What devices prepare that is only files (`Sidecar.what`): fine for a VM that outlives vmkit.
 * Anything else runs beside QEMU in this process, and would die with it.
 */
const FILE_SIDECARS = new Set(["ssh keys", "cloud-init seed"]);

/**
 * Refuses what needs vmkit alive while the VM runs: a cloud-init seed served over HTTP (vmkit
 * serves it), a TPM (vmkit starts swtpm and reads its output).
 */
function checkBackgroundable(name: string, builder: VmSpec): void {
  for (const device of builder.devices) {
    if (device.kind === "cloud-init" && (device as { via?: string }).via === "http") {
      throw new TypeError(
        `Cannot start instance "${name}" in the background: its cloud-init seed is served over HTTP (via: "http") by vmkit, which exits once the instance runs; use the disk seed (via: "disk", the default)`,
      );
    }
    if (device.kind === "tpm") {
      throw new TypeError(
        `Cannot start instance "${name}" in the background: its TPM needs swtpm, which vmkit starts and watches for as long as the VM runs; boot this VM in the foreground (vmkit run), or drop the TPM`,
      );
    }
  }
}

/**
 * QEMU runs from `/` once daemonized: every file it opens must be named by an absolute path.
 */
function checkAbsolutePaths(name: string, builder: VmSpec): void {
  for (const { what, path } of builder.inputFiles) {
    if (!path.startsWith("/")) {
      throw new TypeError(
        `Cannot start instance "${name}": ${what} "${path}" is a relative path, and a background QEMU runs from "/"; give an absolute path`,
      );
    }
  }
}

/** Makes the state directory (0700) and its parents; an existing one is kept. */
async function makeStateDir(dir: string, base: string): Promise<void> {
  await Deno.mkdir(base, { recursive: true, mode: 0o700 });
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new TypeError(`Cannot start instance in "${dir}": it is not a directory`);
    }
  }
}

/** The builder to boot: the one given (or made), else the one the record saved. */
async function builderOf(
  name: string,
  dir: string,
  vm: InstanceVm | undefined,
  record: InstanceRecord | undefined,
): Promise<VmBuilder> {
  if (vm === undefined) {
    if (record === undefined) {
      throw new Deno.errors.NotFound(
        `Cannot start instance "${name}": there is no such instance yet; give the VM to boot (vmkit start ${name} FILE)`,
      );
    }
    return VmBuilder.fromJSON(record.description);
  }
  const builder = typeof vm === "function" ? await vm(dir) : vm;
  if (!(builder instanceof VmBuilder)) {
    throw new TypeError(
      `Cannot start instance "${name}": ${
        typeof vm === "function" ? "the function gave" : "it was given"
      } ${String(builder)}, not a VmBuilder`,
    );
  }
  return builder;
}

/** Reads QEMU's user network forwards (`info usernet`), when the VM has a user network. */
async function readForwards(qmp: QmpClient, builder: VmBuilder): Promise<UsernetForward[]> {
  const networks = builder.toJSON().networks;
  if (!Array.isArray(networks) || !networks.some((n) => n.type === "user")) return [];
  return usernetForwards(await qmp.hmp("info usernet", { timeout: 5000 }));
}

/**
 * Starts a named instance: QEMU as a daemon (`-daemonize`) that outlives this process, serving
 * its console, QMP (two monitors: commands and events) and guest agent on sockets in the state
 * directory (`$XDG_STATE_HOME/vmkit/NAME`, mode 0700), with its pid file, its own log
 * (`qemu.log`) and everything the console prints (`console.log`) there too.
 *
 * The start holds the instance's lock (an flock, which dies with its holder), refuses an
 * instance whose QEMU runs, cleans up after one that died, prepares the devices as `launch()`
 * does (ssh keys and the cloud-init seed are made in the state directory), waits until QMP
 * answers, and saves the instance's record: the VM's description, its command line and
 * forwarded ports. It does not wait for the guest: see {@linkcode Instance.ready}.
 *
 * @param name The instance's name (letters, digits, `-`, `_`, `.`).
 * @param vm The VM: a builder, or a function making one in the state directory. Without it, the
 *   VM the instance booted last time.
 * @param options Where instances live, time limit (default 30 s) and signal.
 * @returns A handle on the running instance.
 * @throws {InstanceBusyError} When another process is starting, stopping or deleting it.
 * @throws {InstanceStatusError} When it runs already.
 * @throws {TypeError} For a VM that cannot run in the background (an HTTP seed, a TPM), or
 *   relative paths.
 * @throws {Deno.errors.NotFound} Without `vm`, when the instance does not exist; or when an
 *   input file or the QEMU binary is missing.
 * @throws {SyntaxError} Without `vm`, when the instance's record cannot be read (with `vm`, the
 *   record is written anew and the instance's disks are kept).
 * @throws {VmLaunchError} When QEMU fails to start: with what it said and the argv (a host port
 *   it could not forward is named, with the instance that holds it when it is one). The record
 *   then stays as the last good start left it.
 *
 * @example
 * ```ts
 * import { startInstance, tinyGuest, vm } from "@vmkit/vmkit";
 * const g = await tinyGuest("x86_64", { agent: true });
 * const web = await startInstance(
 *   "web",
 *   vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd }).guestAgent(),
 * );
 * await web.ready({ timeout: 60_000 });
 * // The VM runs on after this script ends; `vmkit stop web`, or:
 * await web.stop();
 * ```
 */
export async function startInstance(
  name: string,
  vm?: InstanceVm,
  options: StartInstanceOptions = {},
): Promise<Instance> {
  checkTimeout(`start instance "${name}"`, options.timeout);
  const timeout = options.timeout ?? 30_000;
  const dir = instanceDir(name, options);
  await makeStateDir(dir, instanceStateBase(options));
  using _lock = await lockInstance(dir, name, "start");
  const state = await qemuState(dir);
  if (state.status === "running") {
    throw new InstanceStatusError(
      `Cannot start instance "${name}": it is running already (QEMU pid ${state.pid}); stop it first (vmkit stop ${name})`,
      name,
      "running",
    );
  }
  await removeStaleFiles(dir);
  let previous: InstanceRecord | undefined;
  let broken = false;
  try {
    previous = await readInstanceRecord(dir);
  } catch (error) {
    // A record that cannot be read: a start with the VM given writes it anew, keeping the
    // instance's disks; without one, there is nothing to boot.
    if (!(error instanceof SyntaxError) || vm === undefined) throw error;
    broken = true;
  }
  try {
    await startLocked(name, dir, vm, previous, { signal: options.signal, timeout });
  } catch (error) {
    if (previous !== undefined) {
      // A failed start keeps what the last good one saved: its VM is what a later start boots.
      await writeInstanceRecord(dir, previous).catch(() => {});
    } else if (!broken) {
      // A first start that failed leaves nothing behind: no instance, no half-made disks.
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    throw error;
  }
  return instanceHandle(name, dir);
}

/**
 * Starts QEMU as a daemon; when it fails, removes the sockets it made, and names what holds a
 * host port it could not forward.
 */
async function daemonize(request: DaemonizeRequest, dir: string): Promise<number> {
  try {
    return await daemonizeQemu(request);
  } catch (error) {
    await removeStaleFiles(dir);
    if (!(error instanceof VmLaunchError)) throw error;
    const forward = refusedForward(error.stderr);
    if (forward === undefined) throw error;
    const reason = await refusedForwardText(
      dir.slice(0, dir.lastIndexOf("/")),
      request.name,
      forward,
    );
    const details = error.message.slice(error.message.indexOf("\n"));
    throw new VmLaunchError(`Cannot start instance "${request.name}": ${reason}${details}`, {
      argv: error.argv,
      stderr: error.stderr,
      ...error.exit === undefined ? {} : { exit: error.exit },
      cause: error,
    });
  }
}

/** Starts the instance, holding its lock; see {@linkcode startInstance}. */
async function startLocked(
  name: string,
  dir: string,
  vm: InstanceVm | undefined,
  previous: InstanceRecord | undefined,
  options: { signal?: AbortSignal; timeout: number },
): Promise<void> {
  const timeout = options.timeout;
  const given = await builderOf(name, dir, vm, previous);
  // An instance lives on across the guest's reboots, as a machine does: QEMU resets it instead
  // of exiting. (The fast profile's -no-reboot suits a VM a script drives to its end.) A VM that
  // says noReboot keeps it.
  const builder = given.toJSON().noReboot === undefined ? given.noReboot(false) : given;
  const description = builder.toJSON();
  checkBackgroundable(name, builder);
  // The record is saved before QEMU starts: if this process dies before QEMU is up, the
  // instance is still there to be stopped or deleted.
  const record: InstanceRecord = {
    version: 1,
    name,
    created: previous?.created ?? new Date().toISOString(),
    description,
    arch: description.arch,
    ...descriptionSize(description),
    agent: builder.hasGuestAgent,
    ...previous?.ssh === undefined ? {} : { ssh: previous.ssh },
    ...previous?.lastStart === undefined ? {} : { lastStart: previous.lastStart },
  };
  await writeInstanceRecord(dir, record);

  const pidFile = `${dir}/${PID_FILE}`;
  const resolved = await builder
    .pidFile(pidFile)
    .consoleLog(`${dir}/${CONSOLE_LOG}`)
    .qemuLog(`${dir}/${QEMU_LOG}`)
    .qmpSocket(`${dir}/${EVENTS_SOCKET}`)
    .resolved();
  await checkLaunchInputs(resolved);
  checkAbsolutePaths(name, resolved);
  const driveFormats = await readDriveFormats(resolved);
  await checkQmpSocketsFree(resolved.qmpSockets);
  const accel = resolved.resolveAccel();
  // The ssh keys and the seed go into the state directory, and stay there: they are files, and
  // the guest keeps what the seed gave it at its first boot.
  const { sidecars, facts } = await resolved.startSidecars(dir);
  let argv: string[];
  try {
    const running = sidecars.find((sidecar) => !FILE_SIDECARS.has(sidecar.what));
    if (running !== undefined) {
      throw new TypeError(
        `Cannot start instance "${name}" in the background: its ${running.what} runs beside QEMU in this process, and would end with it; boot this VM in the foreground (vmkit run)`,
      );
    }
    argv = [
      ...resolved.toArgv({
        runtimeDir: dir,
        accel: accel.accel,
        driveFormats,
        facts,
        qemuListens: true,
      }),
      "-daemonize",
    ];
  } catch (error) {
    for (const sidecar of sidecars.reverse()) await sidecar.stop();
    throw error;
  }
  const launchedAt = performance.now();
  const pid = await daemonize({
    name,
    binary: resolved.binary,
    argv,
    pidFile,
    qemuLog: `${dir}/${QEMU_LOG}`,
    debianPackage: resolved.archProfile.debianPackage,
    timeout,
    signal: options.signal,
  }, dir);
  const qmpSocket = `${dir}/${QMP_SOCKET}`;
  try {
    const left = Math.max(1000, timeout - (performance.now() - launchedAt));
    await using qmp = await QmpClient.connect(qmpSocket, { timeout: left, signal: options.signal });
    await qmp.execute("query-status", undefined, { timeout: left });
    const startMs = performance.now() - launchedAt;
    const forwards = await readForwards(qmp, builder);
    const sshPort = facts.ssh === undefined
      ? undefined
      : forwards.find((f) => f.protocol === "tcp" && f.guestPort === 22)?.hostPort;
    if (facts.ssh !== undefined) {
      record.ssh = {
        user: facts.ssh.user,
        identity: facts.ssh.privateKey,
        knownHostsFile: `${dir}/${SSH_DIR}/${KNOWN_HOSTS}`,
        hostKeyAlias: HOST_KEY_ALIAS,
        hostKeyGiven: facts.ssh.hostKeyGiven === true,
      };
    }
    record.lastStart = {
      at: new Date(Date.now() - startMs).toISOString(),
      binary: resolved.binary,
      argv,
      accel: accel.accel,
      pid,
      forwards,
      ...sshPort === undefined ? {} : { sshPort },
      startMs: Math.round(startMs),
    };
    await writeInstanceRecord(dir, record);
  } catch (error) {
    // QEMU runs, but is no use: take it down, so the instance reads as stopped.
    signalPid(pid, "SIGKILL");
    await waitGone(pid, pidFile, qmpSocket, 5000);
    await removeStaleFiles(dir);
    throw error;
  }
}
