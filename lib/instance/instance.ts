/**
 * A handle on a named instance: a VM whose QEMU runs in the background, started by
 * {@linkcode startInstance} (or `vmkit start`), and driven from any process through the sockets
 * in its state directory. The handle owns nothing: each client it opens is the caller's to close.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { sleep } from "../_sleep.ts";
import { pathExists } from "../_fs.ts";
import { QmpClient } from "../qmp/client.ts";
import { GuestAgent } from "../agent/client.ts";
import type { SshClient } from "../ssh/client.ts";
import { SshError } from "../ssh/errors.ts";
import {
  deleteSnapshot,
  listSnapshots,
  loadSnapshot,
  saveSnapshot,
  type SnapshotInfo,
  type SnapshotOptions,
} from "../vm/snapshot.ts";
import { describePanic } from "../vm/_vm_failure.ts";
import { detectImageFormat } from "../vm/image_format.ts";
import {
  deleteSnapshot as deleteImageSnapshot,
  listSnapshots as listImageSnapshots,
} from "../image/snapshot.ts";
import { QmpTimeoutError } from "../qmp/errors.ts";
import { NO_AGENT_LINE } from "../guest/default_init.ts";
import { instanceDir, type InstanceDirOptions } from "./state_dir.ts";
import { InstancePanicError, type InstanceStatus, InstanceStatusError } from "./errors.ts";
import { type InstanceRecord, readInstanceRecord } from "./record.ts";
import {
  AGENT_SOCKET,
  CONSOLE_LOG,
  CONSOLE_SOCKET,
  EVENTS_SOCKET,
  LOCK_FILE,
  PID_FILE,
  QEMU_LOG,
  QMP_SOCKET,
  RECORD_FILE,
} from "./_files.ts";
import { lockInstance } from "./_lock.ts";
import { qemuState, removeStaleFiles } from "./_reconcile.ts";
import { stopQemu } from "./_stop.ts";
import { isStopped } from "./_qemu_process.ts";
import { instanceSshClient, knowHostKeys } from "./_ssh_login.ts";

/** The files in an instance's state directory. */
export interface InstanceFiles {
  /** The state directory. */
  dir: string;
  /** The record (`instance.json`). */
  record: string;
  /** The lock file. */
  lock: string;
  /** QEMU's pid file. */
  pidFile: string;
  /** QEMU's own log (`-D`): its errors and warnings, why it stopped. */
  qemuLog: string;
  /** Everything the console printed since the last start. */
  consoleLog: string;
  /** The console socket QEMU serves (one client at a time). */
  consoleSocket: string;
  /** The QMP socket QEMU serves for commands (one client at a time). */
  qmpSocket: string;
  /** A second QMP monitor, for event listeners. */
  eventsSocket: string;
  /** The guest agent socket QEMU serves, when the VM has the agent's channel. */
  agentSocket: string;
}

/** Whether an instance's QEMU runs, and its pid when it does. */
export interface InstanceState {
  /** `"running"` while its QEMU lives, else `"stopped"`. */
  status: InstanceStatus;
  /** QEMU's pid, while it runs. */
  pid?: number;
}

/** Options of {@linkcode Instance.qmp}. */
export interface InstanceQmpOptions extends WaitOptions {
  /**
   * Which monitor: `"commands"` (default, `qmp.sock`) or `"events"` (`events.sock`), a second
   * monitor for a long-lived event listener, so it never holds up commands: a monitor serves one
   * client at a time.
   */
  monitor?: "commands" | "events";
}

/** Options of {@linkcode Instance.stop}. */
export interface StopInstanceOptions {
  /**
   * How long the guest gets to power off when asked (by its agent when it answers, else by the
   * ACPI power button) before QEMU is told to quit. Default 30 000 ms; 0 skips the guest.
   */
  timeout?: number;
  /** Do not ask the guest: QMP `quit` (QEMU flushes its disks), then signals. */
  force?: boolean;
  /** Cancels the wait (the stop may be half done). */
  signal?: AbortSignal;
}

/**
 * What stopped an instance's QEMU: its guest agent's `guest-shutdown`, the ACPI power button,
 * QMP `quit`, SIGTERM or SIGKILL.
 */
export type StopMethod = "agent" | "powerdown" | "quit" | "sigterm" | "sigkill";

/** How {@linkcode Instance.stop} ended. */
export interface StopInstanceResult {
  /**
   * What stopped QEMU: `"agent"`, `"powerdown"`, `"quit"`, `"sigterm"`, `"sigkill"`, or
   * `"already-stopped"`.
   */
  method: StopMethod | "already-stopped";
  /** How long it took, in milliseconds. */
  durationMs: number;
}

/** Options of {@linkcode Instance.delete}. */
export interface DeleteInstanceOptions {
  /** Delete a running instance too: its QEMU is quit first (the guest is not asked). */
  force?: boolean;
}

/** A readiness stage of {@linkcode Instance.ready}. */
export type InstanceReadyStage = "agent" | "ssh";

/** Options of {@linkcode Instance.ready}. */
export interface InstanceReadyOptions extends WaitOptions {
  /** Called as each stage is reached, with the milliseconds since the call. */
  onStage?: (stage: InstanceReadyStage, ms: number) => void;
}

/** When an instance's stages were reached. */
export interface InstanceReadyResult {
  /** The stages the VM has, with the milliseconds it took to reach each. */
  stages: { stage: InstanceReadyStage; ms: number }[];
}

const internal = Symbol("Instance");
const POLL_MS = 250;

/**
 * A named instance. Get one with {@linkcode openInstance} or {@linkcode startInstance}.
 *
 * @example
 * ```ts
 * import { openInstance } from "@vmkit/vmkit";
 * const web = await openInstance("web");
 * if ((await web.status()).status === "running") {
 *   await using agent = await web.agent();
 *   console.log((await agent.exec(["uname", "-r"])).stdout);
 *   await web.stop();
 * }
 * ```
 */
export class Instance {
  readonly #name: string;
  readonly #files: InstanceFiles;

  /**
   * Use {@linkcode openInstance} or {@linkcode startInstance}.
   *
   * @param key Internal.
   * @param name The name.
   * @param dir The state directory.
   */
  constructor(key: symbol, name: string, dir: string) {
    if (key !== internal) {
      throw new TypeError("Cannot construct Instance: use openInstance() or startInstance()");
    }
    this.#name = name;
    this.#files = {
      dir,
      record: `${dir}/${RECORD_FILE}`,
      lock: `${dir}/${LOCK_FILE}`,
      pidFile: `${dir}/${PID_FILE}`,
      qemuLog: `${dir}/${QEMU_LOG}`,
      consoleLog: `${dir}/${CONSOLE_LOG}`,
      consoleSocket: `${dir}/${CONSOLE_SOCKET}`,
      qmpSocket: `${dir}/${QMP_SOCKET}`,
      eventsSocket: `${dir}/${EVENTS_SOCKET}`,
      agentSocket: `${dir}/${AGENT_SOCKET}`,
    };
  }

  /** The instance's name. */
  get name(): string {
    return this.#name;
  }

  /** Its state directory. */
  get dir(): string {
    return this.#files.dir;
  }

  /** The files in its state directory. */
  get files(): InstanceFiles {
    return { ...this.#files };
  }

  /**
   * Reads its record again (another process may have started it since).
   *
   * @returns The record.
   * @throws {Deno.errors.NotFound} When the instance was deleted.
   * @throws {SyntaxError} When the record cannot be read (the message says what to do).
   */
  async record(): Promise<InstanceRecord> {
    const record = await readInstanceRecord(this.dir);
    if (record === undefined) {
      throw new Deno.errors.NotFound(
        `Cannot read instance "${this.#name}": its record "${this.#files.record}" is gone (the instance was deleted)`,
      );
    }
    return record;
  }

  /**
   * Whether its QEMU runs: its pid file names a live process whose command line has this
   * instance's pid file. A QEMU that died (kill -9) reads as stopped; its leftover sockets are
   * removed by the next start, stop or {@linkcode listInstances}.
   *
   * @returns The status, and QEMU's pid while it runs.
   */
  async status(): Promise<InstanceState> {
    return await qemuState(this.dir);
  }

  /**
   * Connects to its QMP monitor.
   *
   * @param options Which monitor, time limit (default 10 s) and signal.
   * @returns A negotiated client; close it (`await using`).
   * @throws {InstanceStatusError} When the instance is stopped.
   * @throws {Error} At once when its QEMU process is stopped (SIGSTOP): it answers nothing.
   * @throws {QmpTimeoutError} When QEMU does not greet in time: another client holds the
   *   monitor, or QEMU hangs (the message says which it can tell).
   */
  async qmp(options: InstanceQmpOptions = {}): Promise<QmpClient> {
    const action = options.monitor === "events"
      ? "connect to the events monitor of"
      : "connect to the QMP monitor of";
    const { pid } = await this.#requireRunning(action);
    await this.#requireAnswering(action, pid!);
    const socket = options.monitor === "events" ? this.#files.eventsSocket : this.#files.qmpSocket;
    const timeout = options.timeout ?? 10_000;
    try {
      return await QmpClient.connect(socket, { timeout, signal: options.signal });
    } catch (error) {
      if (!(error instanceof QmpTimeoutError) || !/greeting/.test(error.message)) throw error;
      await this.#requireAnswering(action, pid!);
      const others = options.monitor === "events"
        ? "another client (vmkit events, a script) is probably attached to it"
        : "another client (vmkit qmp, vmkit info, a qmp-shell, a script) is probably attached to it";
      error.message =
        `Cannot ${action} instance "${this.#name}": QEMU (pid ${pid}) did not greet within ${timeout} ms; a monitor serves one client at a time, so ${others}, or QEMU hangs; end that client, or look at "${this.#files.qemuLog}"`;
      throw error;
    }
  }

  /**
   * Connects to its guest agent. Commands wait in QEMU until the guest's agent opens its port,
   * within their time limit.
   *
   * @returns The client; close it (`await using`).
   * @throws {InstanceStatusError} When the instance is stopped.
   * @throws {Error} When its QEMU process is stopped (SIGSTOP): it answers nothing.
   * @throws {TypeError} When the VM has no guest agent channel.
   */
  async agent(): Promise<GuestAgent> {
    const record = await this.record();
    if (!record.agent) {
      throw new TypeError(
        `Cannot talk to the guest agent of instance "${this.#name}": its VM has no agent channel; add .guestAgent() (agent: true in a definition)`,
      );
    }
    const { pid } = await this.#requireRunning("talk to the guest agent of");
    await this.#requireAnswering("talk to the guest agent of", pid!);
    return await GuestAgent.connect(this.#files.agentSocket);
  }

  /**
   * An ssh client for it, with the key, user and known_hosts its start prepared, on the port
   * its start read back from QEMU. When the seed did not give the guest its host key, the key
   * must have appeared in the console log (cloud-init prints it).
   *
   * @returns The client; close it (`await using`) to stop its connection.
   * @throws {InstanceStatusError} When the instance is stopped.
   * @throws {TypeError} When the VM has no ssh, or its host key is not known yet.
   */
  async ssh(): Promise<SshClient> {
    const record = await this.record();
    const login = record.ssh;
    const port = record.lastStart?.sshPort;
    if (login === undefined || port === undefined) {
      throw new TypeError(
        `Cannot ssh into instance "${this.#name}": its VM has no ssh login; add .ssh() (ssh: true in a definition)`,
      );
    }
    const { pid } = await this.#requireRunning("ssh into");
    await this.#requireAnswering("ssh into", pid!);
    if (!(await knowHostKeys(login, this.#files.consoleLog))) {
      throw new TypeError(
        `Cannot ssh into instance "${this.#name}": the guest's host key is not known yet (cloud-init prints it on the console when it has made it); wait for ready()`,
      );
    }
    return instanceSshClient(login, port);
  }

  /**
   * Waits until the guest answers the way the VM can be reached: its agent (when it has the
   * channel) and ssh (when it has `.ssh()`: sshd answers and a login runs `true`), at once.
   * Fails as soon as QEMU exits or the console shows a kernel panic.
   *
   * @param options Time limit (default 300 s), signal, and a callback per stage reached.
   * @returns The stages and how long each took.
   * @throws {InstanceStatusError} When the instance is stopped, or stops during the wait.
   * @throws {InstancePanicError} When the guest's kernel panics (QEMU still runs), with the
   *   panic line and the console's lines before it.
   * @throws {Error} When a stage is not reached in time, naming it and what is known of why.
   */
  async ready(options: InstanceReadyOptions = {}): Promise<InstanceReadyResult> {
    checkTimeout(`wait for instance "${this.#name}"`, options.timeout);
    const record = await this.record();
    const { pid } = await this.#requireRunning("wait for");
    const started = performance.now();
    const timeout = options.timeout ?? 300_000;
    const controller = new AbortController();
    const onAbort = () => controller.abort(options.signal!.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const late: Record<InstanceReadyStage, string> = {
      agent: "the guest agent did not answer",
      ssh: "sshd did not answer",
    };
    const stages: { stage: InstanceReadyStage; ms: number }[] = [];
    const reached = (stage: InstanceReadyStage) => {
      const ms = performance.now() - started;
      stages.push({ stage, ms });
      options.onStage?.(stage, ms);
    };
    const work: Promise<void>[] = [];
    if (record.agent) {
      work.push(this.#agentReady(controller.signal, late).then(() => reached("agent")));
    }
    if (record.ssh !== undefined) {
      work.push(this.#sshReady(record, controller.signal, late).then(() => reached("ssh")));
    }
    const failure = this.#watchFailure(pid!, record.agent, controller.signal);
    const timer = setTimeout(() => controller.abort("timeout"), timeout);
    try {
      await Promise.race([Promise.all(work), failure]);
      return { stages };
    } catch (error) {
      if (controller.signal.reason === "timeout") {
        const missing = (["agent", "ssh"] as const).filter((s) =>
          (s === "agent" ? record.agent : record.ssh !== undefined) &&
          !stages.some((done) => done.stage === s)
        );
        throw new Error(
          `Cannot wait for instance "${this.#name}": not ready within ${timeout} ms (${
            missing.map((s) => `${s}: ${late[s]}`).join("; ")
          }); its console log is "${this.#files.consoleLog}"`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      controller.abort("done");
      options.signal?.removeEventListener("abort", onAbort);
      await Promise.allSettled(work);
    }
  }

  /**
   * Stops its QEMU: the guest is asked to power off (by its agent when it answers, else by the
   * ACPI power button, pressed again every 2 s) for `timeout`, then QMP `quit`, SIGTERM and
   * SIGKILL, each with its own wait. Holds the instance's lock meanwhile.
   *
   * @param options The guest's time (default 30 s), force, signal.
   * @returns What stopped it, and how long it took.
   * @throws {InstanceBusyError} When another process is starting, stopping or deleting it.
   */
  async stop(options: StopInstanceOptions = {}): Promise<StopInstanceResult> {
    checkTimeout(`stop instance "${this.#name}"`, options.timeout);
    const started = performance.now();
    using _lock = await lockInstance(this.dir, this.#name, "stop");
    const method = await this.#stopLocked(options);
    return { method, durationMs: performance.now() - started };
  }

  /**
   * Deletes the instance: its state directory with its disks, keys and logs. A running instance
   * is refused unless `force`, which quits its QEMU first.
   *
   * @param options Force.
   * @returns When the directory is gone.
   * @throws {InstanceStatusError} When it runs and `force` is not set.
   * @throws {InstanceBusyError} When another process is starting, stopping or deleting it.
   */
  async delete(options: DeleteInstanceOptions = {}): Promise<void> {
    using _lock = await lockInstance(this.dir, this.#name, "delete");
    const state = await qemuState(this.dir);
    if (state.status === "running") {
      if (!options.force) {
        throw new InstanceStatusError(
          `Cannot delete instance "${this.#name}": it is running (QEMU pid ${state.pid}); stop it first, or delete it with { force: true }`,
          this.#name,
          "running",
        );
      }
      await this.#stopLocked({ force: true });
    }
    await Deno.remove(this.dir, { recursive: true });
  }

  /**
   * The snapshots in its disks: those of the first writable qcow2 disk, which holds the VM
   * state. A running instance's QEMU lists them; a stopped one's disk is read with `qemu-img`.
   *
   * @param options Time limit and signal.
   * @returns The snapshots, oldest first.
   * @throws {QemuImgError} When qemu-img cannot read a stopped instance's disk.
   */
  async snapshots(options: WaitOptions = {}): Promise<SnapshotInfo[]> {
    if ((await this.status()).status === "running") {
      await using qmp = await this.qmp(options);
      return await listSnapshots(qmp);
    }
    const [holder] = await this.#snapshotDisks();
    if (holder === undefined) return [];
    return (await listImageSnapshots(holder, options)).map((s) => ({
      tag: s.name,
      vmStateSize: s.vmStateSize,
      date: s.date,
      vmClockNs: s.vmClock * 1e6,
    }));
  }

  /**
   * Saves the running VM (RAM, devices, qcow2 disks) as snapshot `tag`.
   *
   * @param tag A new tag.
   * @param options Time limit (default 120 s) and signal.
   * @returns The snapshot.
   * @throws {InstanceStatusError} When the instance is stopped.
   * @throws {TypeError} When a writable disk is not qcow2, there is none, or the tag exists.
   */
  async saveSnapshot(tag: string, options: SnapshotOptions = {}): Promise<SnapshotInfo> {
    await this.#requireRunning(
      `save snapshot "${tag}" of`,
      "a snapshot saves a running VM (its memory and devices with its disks)",
    );
    await using qmp = await this.qmp({ signal: options.signal });
    return await saveSnapshot(qmp, tag, options);
  }

  /**
   * Brings the VM back to snapshot `tag`; it runs on from there.
   *
   * @param tag The tag.
   * @param options Time limit (default 120 s) and signal.
   * @returns When loaded.
   * @throws {InstanceStatusError} When the instance is stopped.
   * @throws {RangeError} When there is no such snapshot.
   */
  async loadSnapshot(tag: string, options: SnapshotOptions = {}): Promise<void> {
    await this.#requireRunning(
      `load snapshot "${tag}" into`,
      "a snapshot is loaded into a running VM (its memory and devices with its disks)",
    );
    await using qmp = await this.qmp({ signal: options.signal });
    await loadSnapshot(qmp, tag, options);
  }

  /**
   * Deletes snapshot `tag` from every disk that has it: through QEMU while the instance runs,
   * else with `qemu-img` (holding the instance's lock, so it is not started meanwhile).
   *
   * @param tag The tag.
   * @param options Time limit (default 60 s) and signal.
   * @returns When deleted.
   * @throws {RangeError} When there is no such snapshot.
   * @throws {InstanceBusyError} When it is stopped and another process is starting it.
   */
  async deleteSnapshot(tag: string, options: SnapshotOptions = {}): Promise<void> {
    if ((await this.status()).status === "running") {
      await using qmp = await this.qmp({ signal: options.signal });
      await deleteSnapshot(qmp, tag, options);
      return;
    }
    using _lock = await lockInstance(this.dir, this.#name, "snapshot");
    if ((await qemuState(this.dir)).status === "running") {
      await using qmp = await this.qmp({ signal: options.signal });
      await deleteSnapshot(qmp, tag, options);
      return;
    }
    const holders: string[] = [];
    for (const file of await this.#snapshotDisks()) {
      const snapshots = await listImageSnapshots(file, options);
      if (snapshots.some((s) => s.name === tag)) holders.push(file);
    }
    if (holders.length === 0) {
      throw new RangeError(`Cannot delete snapshot "${tag}": there is no snapshot of that name`);
    }
    for (const file of holders) await deleteImageSnapshot(file, tag, options);
  }

  /** The writable qcow2 disks of a stopped instance, which hold its snapshots. */
  async #snapshotDisks(): Promise<string[]> {
    const files: string[] = [];
    for (const drive of (await this.record()).description.drives ?? []) {
      if (drive.readOnly || drive.snapshot) continue;
      const format = drive.format ?? (await detectImageFormat(drive.file)).format;
      if (format === "qcow2") files.push(drive.file);
    }
    return files;
  }

  async #stopLocked(options: StopInstanceOptions): Promise<StopMethod | "already-stopped"> {
    const state = await qemuState(this.dir);
    if (state.status === "stopped") {
      await removeStaleFiles(this.dir);
      return "already-stopped";
    }
    // A broken record does not keep its QEMU from being stopped: without it, no agent is asked.
    const record = await readInstanceRecord(this.dir).catch(() => undefined);
    const method = await stopQemu({
      pid: state.pid!,
      pidFile: this.#files.pidFile,
      qmpSocket: this.#files.qmpSocket,
      agentSocket: record?.agent ? this.#files.agentSocket : undefined,
      timeout: options.timeout ?? 30_000,
      force: options.force ?? false,
      signal: options.signal,
    });
    await removeStaleFiles(this.dir);
    return method;
  }

  async #requireRunning(action: string, why?: string): Promise<InstanceState> {
    const state = await qemuState(this.dir);
    if (state.status !== "running") {
      throw new InstanceStatusError(
        `Cannot ${action} instance "${this.#name}": it is stopped${
          why === undefined ? "" : `, and ${why}`
        }; start it first (vmkit start ${this.#name})`,
        this.#name,
        "stopped",
      );
    }
    return state;
  }

  /** Refuses a QEMU stopped by a signal: the kernel queues connections to it, and it answers none. */
  async #requireAnswering(action: string, pid: number): Promise<void> {
    if (await isStopped(pid)) {
      throw new Error(
        `Cannot ${action} instance "${this.#name}": its QEMU (pid ${pid}) is stopped (SIGSTOP: state T in /proc/${pid}/stat) and answers nothing; continue it with: kill -CONT ${pid}`,
      );
    }
  }

  async #agentReady(signal: AbortSignal, late: Record<InstanceReadyStage, string>) {
    await using agent = await GuestAgent.connect(this.#files.agentSocket);
    late.agent =
      "the guest agent did not answer: the guest is still booting, or qemu-guest-agent is not installed or not running in it";
    await agent.ready({ signal });
  }

  async #sshReady(
    record: InstanceRecord,
    signal: AbortSignal,
    late: Record<InstanceReadyStage, string>,
  ): Promise<void> {
    const login = record.ssh!;
    const port = record.lastStart?.sshPort;
    if (port === undefined) {
      throw new Error(
        `Cannot wait for ssh of instance "${this.#name}": its start found no forward to guest port 22`,
      );
    }
    late.ssh = "cloud-init has not printed the guest's host keys on the console yet";
    while (!(await knowHostKeys(login, this.#files.consoleLog))) {
      signal.throwIfAborted();
      await sleep(POLL_MS, signal);
    }
    late.ssh = "sshd has not answered yet";
    await using client = instanceSshClient(login, port);
    for (let pause = 50;; pause = Math.min(pause * 2, 500)) {
      await client.waitUntilReady({ signal });
      late.ssh = "sshd answers; no login has worked yet";
      try {
        const login = await client.exec("true", { signal });
        if (login.exitCode === 0) return;
        throw new Error(
          `Cannot log into instance "${this.#name}" over ssh: a login runs "true" and gets exit code ${login.exitCode}: ${
            (login.stdout + login.stderr).trim()
          }`,
        );
      } catch (error) {
        // sshd starts before cloud-init has made the user or written its key.
        if (!(error instanceof SshError) || error.failure === "host-key") throw error;
        late.ssh = `the last login failed (${error.failure}): ${error.messages.trim()}`;
        await sleep(pause, signal);
      }
    }
  }

  /** Rejects when QEMU goes or the console shows a panic (or a guest without qemu-ga). */
  async #watchFailure(pid: number, agent: boolean, signal: AbortSignal): Promise<never> {
    while (true) {
      await sleep(POLL_MS, signal);
      const state = await qemuState(this.dir);
      if (state.status !== "running" || state.pid !== pid) {
        throw new InstanceStatusError(
          `Cannot wait for instance "${this.#name}": its QEMU exited; see "${this.#files.qemuLog}" and "${this.#files.consoleLog}"`,
          this.#name,
          "stopped",
        );
      }
      const log = await Deno.readTextFile(this.#files.consoleLog).catch(() => "");
      const panic = describePanic(log);
      if (panic !== undefined) {
        throw new InstancePanicError(
          `Cannot wait for instance "${this.#name}": the guest's kernel panicked: ${panic}\nIts console log is "${this.#files.consoleLog}"`,
          this.#name,
          this.#files.consoleLog,
        );
      }
      if (agent && log.includes(NO_AGENT_LINE)) {
        throw new Error(
          `Cannot wait for the guest agent of instance "${this.#name}": ${NO_AGENT_LINE}`,
        );
      }
    }
  }
}

/**
 * Opens a handle on an existing instance.
 *
 * @param name The instance's name.
 * @param options Where instances live.
 * @returns The handle (also of an instance whose record cannot be read: {@linkcode Instance.record}
 *   then says what is wrong, and it can still be stopped and deleted).
 * @throws {Deno.errors.NotFound} When there is no such instance.
 * @throws {TypeError} For a bad name.
 *
 * @example
 * ```ts
 * import { openInstance } from "@vmkit/vmkit";
 * const web = await openInstance("web");
 * console.log(await web.status()); // { status: "running", pid: 4242 }
 * ```
 */
export async function openInstance(
  name: string,
  options: InstanceDirOptions = {},
): Promise<Instance> {
  const dir = instanceDir(name, options);
  // A record that cannot be read still names an instance: it can be stopped, deleted and
  // started anew; what needs the record says what is wrong with it.
  if (!(await pathExists(`${dir}/${RECORD_FILE}`))) {
    throw new Deno.errors.NotFound(
      `Cannot open instance "${name}": there is no such instance in "${
        dir.slice(0, dir.lastIndexOf("/"))
      }"`,
    );
  }
  return new Instance(internal, name, dir);
}

/**
 * A handle on the instance in `dir`, for {@linkcode startInstance} and
 * {@linkcode listInstances}; not exported from the package.
 */
export function instanceHandle(name: string, dir: string): Instance {
  return new Instance(internal, name, dir);
}
