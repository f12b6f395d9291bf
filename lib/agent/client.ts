/**
 * The QEMU guest agent client: commands over the agent's virtio-serial channel, one at a time
 * (the agent runs them in order), each matched to its reply, with the channel re-synchronised
 * (`guest-sync-delimited`) before the first command and after any command that timed out.
 *
 * @module
 */

import { checkTimeout, settledWithin, type WaitOptions } from "../_deadline.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { AgentFraming } from "./_framing.ts";
import type { AgentPort } from "./agent_port.ts";
import {
  type GuestAgentCommand,
  GuestAgentError,
  GuestAgentTimeoutError,
  GuestAgentUnavailableError,
} from "./errors.ts";
import type { QgaCommands } from "./qga.ts";
import { type AgentExecOptions, type AgentExecResult, execInGuest } from "./exec.ts";
import {
  type AgentFileOptions,
  type AgentWriteOptions,
  copyFromGuest,
  copyIntoGuest,
  readGuestFile,
  writeGuestFile,
} from "./files.ts";
import { AGENT_PORT_NOT_OPEN } from "./_port_not_open.ts";

/** Every command name of the generated guest agent types (`lib/agent/qga.ts`). */
export type QgaCommandName = keyof QgaCommands;
/** The arguments of a guest agent command. */
export type QgaArguments<C extends QgaCommandName> = QgaCommands[C]["arguments"];
/** The return value of a guest agent command. */
export type QgaReturn<C extends QgaCommandName> = QgaCommands[C]["return"];
/** What a command resolves with: typed for a known command name, `unknown` otherwise. */
export type QgaResultOf<C extends string> = C extends QgaCommandName ? QgaReturn<C> : unknown;
/**
 * The arguments and options after a command name: `args` is required when the command has
 * required arguments.
 */
export type QgaExecuteRest<C extends string> = C extends QgaCommandName
  ? Record<string, never> extends QgaArguments<C> ? [args?: QgaArguments<C>, options?: WaitOptions]
  : [args: QgaArguments<C>, options?: WaitOptions]
  : [args?: Record<string, unknown>, options?: WaitOptions];

/** Options of {@linkcode GuestAgent.connect}. */
export interface GuestAgentConnectOptions {
  /** Longest reply line accepted, in bytes. Default 128 MiB (a 48 MiB file read, in base64). */
  maxLineBytes?: number;
}

/** What the client talks through, and what tells it the agent is gone. */
export interface GuestAgentLink {
  /** The byte stream of the agent's channel. */
  conn: Deno.Conn;
  /** The port's open state, when a VM follows it over QMP. */
  port?: AgentPort;
  /** Resolves with the reason once the agent can never answer (QEMU exited, a panic). */
  gone?: Promise<string>;
  /** Resolves when the guest has powered off: confirms `guest-shutdown`, which has no reply. */
  poweredOff?: () => Promise<void>;
  /** Longest reply line accepted. */
  maxLineBytes?: number;
}

/** What {@linkcode GuestAgent.info} returns. */
export interface AgentInfo {
  /** The agent's version, such as `"7.2.22"`. */
  version: string;
  /** The commands it has enabled. */
  commands: string[];
}

/** Options of {@linkcode GuestAgent.shutdown}. */
export interface AgentShutdownOptions extends WaitOptions {
  /** `"powerdown"` (default), `"halt"` or `"reboot"`. */
  mode?: "powerdown" | "halt" | "reboot";
}

/** Default time limit of one agent command, including waiting for the port and the sync. */
export const DEFAULT_AGENT_TIMEOUT = 30_000;
const DEFAULT_MAX_LINE = 128 * 1024 * 1024;
const encoder = new TextEncoder();
const internal = Symbol("GuestAgent");

interface Inflight {
  id: number;
  /** Set for `guest-sync-delimited`: the reply must return it. */
  syncId?: number;
  command: GuestAgentCommand;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** What a closed port means for this command: by default a failure. */
  onPortClose?: () => void;
}

interface Call {
  command: string;
  args?: Record<string, unknown>;
  options: WaitOptions;
  /** For a command with no reply on success: resolves when it took effect. */
  noReply?: () => Promise<void>;
}

/**
 * A QEMU guest agent (`qemu-ga`) client. A VM built with `.guestAgent()` has one as
 * `vm.agent`; {@linkcode GuestAgent.connect} opens one on an agent socket QEMU serves.
 *
 * Commands wait until the guest has opened the agent's port (a VM follows QMP's
 * `VSERPORT_CHANGE`), and fail at once, naming the reason, when QEMU exits or the guest panics.
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * declare const initrd: string, kernel: string;
 * await using guest = await vm({ arch: "x86_64" }).kernel(kernel, { initrd }).guestAgent().launch();
 * const { exitCode, stdout } = await guest.agent.exec(["uname", "-r"]);
 * ```
 */
export class GuestAgent implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  readonly #port?: AgentPort;
  readonly #poweredOff?: () => Promise<void>;
  readonly #alive: KeepAlive;
  readonly #framing: AgentFraming;
  readonly #gone: Promise<string>;
  readonly #linkGone?: Promise<string>;
  readonly #closed: Promise<void>;
  #goneReason?: string;
  readonly #goneListeners = new Set<(reason: string) => void>();
  #setGone!: (reason: string) => void;
  #queue: Promise<unknown> = Promise.resolve();
  #writes: Promise<unknown> = Promise.resolve();
  #inflight?: Inflight;
  #needsSync = true;
  #nextId = 1;
  #staleReplies = 0;
  #syncs = 0;

  /**
   * Connects to a guest agent socket that QEMU serves (a `-chardev socket,server=on` behind
   * the `org.qemu.guest_agent.0` port). Without a VM following the port, commands sent before
   * the guest's agent starts wait in QEMU until it does, within their time limit.
   *
   * @param path The unix socket's path.
   * @param options Line limit.
   * @returns The client.
   * @throws {Deno.errors.NotFound} When nothing listens at `path`.
   */
  static async connect(path: string, options: GuestAgentConnectOptions = {}): Promise<GuestAgent> {
    const conn = await Deno.connect({ transport: "unix", path });
    return GuestAgent.fromLink({ conn, maxLineBytes: options.maxLineBytes });
  }

  /**
   * A client over a link a VM set up (`launch()` does this).
   *
   * @param link The connection, and what the VM knows of the port and of QEMU.
   * @returns The client.
   */
  static fromLink(link: GuestAgentLink): GuestAgent {
    return new GuestAgent(internal, link);
  }

  /**
   * Use {@linkcode GuestAgent.connect}, or `vm.agent`.
   *
   * @param key Internal.
   * @param link The link.
   */
  constructor(key: symbol, link: GuestAgentLink) {
    if (key !== internal) {
      throw new TypeError("Cannot construct GuestAgent: use vm.agent or GuestAgent.connect()");
    }
    this.#conn = link.conn;
    this.#port = link.port;
    this.#poweredOff = link.poweredOff;
    this.#alive = new KeepAlive(link.conn);
    this.#framing = new AgentFraming(link.maxLineBytes ?? DEFAULT_MAX_LINE);
    this.#gone = new Promise((resolve) => (this.#setGone = resolve));
    this.#gone.then((reason) => {
      this.#goneReason = reason;
      const inflight = this.#inflight;
      // A command with no reply (guest-shutdown) that the end confirms is done, not failed.
      if (inflight?.onPortClose !== undefined && this.#poweredOff === undefined) {
        inflight.onPortClose();
      } else {
        this.#inflight = undefined;
        inflight?.reject(this.#unavailable(inflight.command.execute, reason));
      }
      for (const listener of [...this.#goneListeners]) listener(reason);
    });
    this.#linkGone = link.gone;
    link.gone?.then((reason) => this.#setGone(reason));
    link.port?.onClose(() => {
      this.#needsSync = true;
      const inflight = this.#inflight;
      if (inflight === undefined) return;
      if (inflight.onPortClose !== undefined) return inflight.onPortClose();
      this.#inflight = undefined;
      inflight.reject(
        this.#unavailable(
          inflight.command.execute,
          "the guest closed the agent's port before answering (the agent stopped, or the guest is shutting down or rebooting)",
        ),
      );
    });
    this.#closed = this.#readLoop();
  }

  /**
   * Whether the guest has the agent's port open now (`undefined` when no VM follows the port):
   * `false` means no agent is listening yet, or any more.
   */
  get portOpen(): boolean | undefined {
    return this.#port?.isOpen;
  }

  /** Replies that matched no pending command (a late reply after a timeout), dropped. */
  get staleReplies(): number {
    return this.#staleReplies;
  }

  /** How many times the channel was synchronised (`guest-sync-delimited`). */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * Sends a command and resolves with its `return` value; typed for the commands of the
   * installed agent's reference (`lib/agent/qga.ts`), any JSON object for others.
   *
   * @param command Command name, such as `"guest-get-osinfo"`.
   * @param rest Its arguments, then time limit (default 30 s, covering the wait for the port and
   *   the sync) and signal.
   * @returns The command's `return` value.
   * @throws {GuestAgentError} When the agent answers with an error.
   * @throws {GuestAgentTimeoutError} When no reply comes in time; the next command re-syncs.
   * @throws {GuestAgentUnavailableError} When QEMU exits, the guest panics or the guest closes
   *   the port first.
   */
  execute<C extends string>(command: C, ...rest: QgaExecuteRest<C>): Promise<QgaResultOf<C>> {
    const [args, options = {}] = rest as [Record<string, unknown> | undefined, WaitOptions?];
    return this.#call({ command, args, options }) as Promise<QgaResultOf<C>>;
  }

  /**
   * Sends a command that has no reply when it works (`guest-shutdown`, `guest-suspend-*`), and
   * resolves when it took effect: the guest powered off (QMP `SHUTDOWN`, or QEMU exiting) for a
   * VM's agent, or, without a VM, when the guest closed the port or the connection ended.
   *
   * @param command Command name.
   * @param args Its arguments.
   * @param options Time limit (default 30 s) and signal.
   * @throws {GuestAgentError} When the agent answers with an error.
   * @throws {GuestAgentTimeoutError} When it takes no effect in time.
   */
  async executeNoReply(
    command: string,
    args: Record<string, unknown> | undefined,
    options: WaitOptions = {},
  ): Promise<void> {
    const poweredOff = this.#poweredOff ?? (() => this.#gone.then(() => {}));
    await this.#call({ command, args, options, noReply: poweredOff });
  }

  /**
   * Waits until the agent answers: the guest opened its port, and a sync went through.
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns When the agent answers.
   */
  async ready(options: WaitOptions = {}): Promise<void> {
    await this.#call({ command: "guest-ping", options });
  }

  /**
   * Whether the agent answers (`guest-ping`), waiting for the port and the sync.
   *
   * @param options Time limit (default 30 s) and signal.
   */
  async ping(options: WaitOptions = {}): Promise<void> {
    await this.execute("guest-ping", undefined, options);
  }

  /**
   * The agent's version and the commands it has enabled (`guest-info`).
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns Version, such as `"7.2.22"`, and enabled command names.
   */
  async info(options: WaitOptions = {}): Promise<AgentInfo> {
    const info = await this.execute("guest-info", undefined, options);
    return {
      version: info.version,
      commands: info.supported_commands.filter((c) => c.enabled).map((c) => c.name),
    };
  }

  /**
   * The guest's operating system (`guest-get-osinfo`: from its `/etc/os-release` and `uname`).
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns Kernel release and version, machine, and the os-release fields.
   */
  osInfo(options: WaitOptions = {}): Promise<QgaReturn<"guest-get-osinfo">> {
    return this.execute("guest-get-osinfo", undefined, options);
  }

  /**
   * The guest's network interfaces with their addresses (`guest-network-get-interfaces`).
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns One entry per interface.
   */
  networkInterfaces(
    options: WaitOptions = {},
  ): Promise<QgaReturn<"guest-network-get-interfaces">> {
    return this.execute("guest-network-get-interfaces", undefined, options);
  }

  /**
   * Runs a program in the guest and waits for it to end: `guest-exec`, then
   * `guest-exec-status` polled from 0 ms, doubling, up to every 100 ms. A program killed by a
   * signal has `exitCode: null` and the signal's name, never exit code 0. On timeout or abort
   * the program is killed in the guest.
   *
   * @param argv The program and its arguments (looked up in the agent's `PATH`), or a command
   *   line run by `/bin/sh -c`.
   * @param options Standard input, environment, output capture, time limit (default none),
   *   signal.
   * @returns Exit code or signal, standard output and error (UTF-8), whether they were cut.
   * @throws {TypeError} For an empty command or a bad environment.
   * @throws {GuestAgentError} When the agent cannot start it (no such program).
   * @throws {GuestAgentTimeoutError} When it runs past `timeout`.
   *
   * @example
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * const { exitCode, stdout } = await guest.agent.exec(["cat", "/etc/hostname"]);
   * const piped = await guest.agent.exec("tr a-z A-Z", { stdin: "hello" }); // "HELLO"
   * ```
   */
  exec(argv: string | readonly string[], options: AgentExecOptions = {}): Promise<AgentExecResult> {
    return execInGuest(this, argv, options);
  }

  /**
   * Reads a whole file of the guest.
   *
   * @param path Absolute path in the guest.
   * @param options Chunk size, time limit, signal.
   * @returns Its bytes.
   * @throws {Deno.errors.NotFound} When it does not exist in the guest.
   */
  readFile(path: string, options: AgentFileOptions = {}): Promise<Uint8Array> {
    return readGuestFile(this, path, options);
  }

  /**
   * Reads a whole file of the guest as UTF-8 text.
   *
   * @param path Absolute path in the guest.
   * @param options Chunk size, time limit, signal.
   * @returns Its text.
   * @throws {Deno.errors.NotFound} When it does not exist in the guest.
   */
  async readTextFile(path: string, options: AgentFileOptions = {}): Promise<string> {
    return new TextDecoder().decode(await readGuestFile(this, path, options));
  }

  /**
   * Writes a whole file in the guest, made or replaced, and flushed: a write the guest's
   * filesystem refuses (no space left) is an error, never a short file.
   *
   * @param path Absolute path in the guest; its directory must exist.
   * @param data Text (as UTF-8) or bytes.
   * @param options Mode, append, chunk size, time limit, signal.
   * @throws {Deno.errors.NotFound} When its directory does not exist.
   */
  writeFile(
    path: string,
    data: string | Uint8Array,
    options: AgentWriteOptions = {},
  ): Promise<void> {
    return writeGuestFile(this, path, data, options);
  }

  /**
   * Copies a host file into the guest in chunks (memory holds one chunk), with the host file's
   * mode unless `mode` is given. The guest file appears whole or not at all: it is written
   * beside (`<path>.vmkit-part`) and moved into place (except with `append`).
   *
   * @param hostPath The host file.
   * @param guestPath Absolute path in the guest.
   * @param options Mode, chunk size (default 1 MiB), time limit, signal.
   * @returns Bytes copied.
   */
  copyIn(hostPath: string, guestPath: string, options: AgentWriteOptions = {}): Promise<number> {
    return copyIntoGuest(this, hostPath, guestPath, options);
  }

  /**
   * Copies a guest file to the host in chunks (memory holds one chunk); the host file appears
   * whole or not at all.
   *
   * @param guestPath Absolute path in the guest.
   * @param hostPath The host file to write.
   * @param options Chunk size (default 1 MiB), time limit, signal.
   * @returns Bytes copied.
   * @throws {Deno.errors.NotFound} When it does not exist in the guest.
   */
  copyOut(guestPath: string, hostPath: string, options: AgentFileOptions = {}): Promise<number> {
    return copyFromGuest(this, guestPath, hostPath, options);
  }

  /**
   * Freezes the guest's filesystems (`guest-fsfreeze-freeze`) for a consistent disk snapshot;
   * thaw them with {@linkcode GuestAgent.fsthaw} soon after.
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns How many filesystems were frozen.
   */
  fsfreeze(options: WaitOptions = {}): Promise<number> {
    return this.execute("guest-fsfreeze-freeze", undefined, options);
  }

  /**
   * Thaws the guest's filesystems (`guest-fsfreeze-thaw`).
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns How many filesystems were thawed.
   */
  fsthaw(options: WaitOptions = {}): Promise<number> {
    return this.execute("guest-fsfreeze-thaw", undefined, options);
  }

  /**
   * Whether the guest's filesystems are frozen (`guest-fsfreeze-status`).
   *
   * @param options Time limit (default 30 s) and signal.
   * @returns `"thawed"` or `"frozen"`.
   */
  fsfreezeStatus(options: WaitOptions = {}): Promise<QgaReturn<"guest-fsfreeze-status">> {
    return this.execute("guest-fsfreeze-status", undefined, options);
  }

  /**
   * Sets the guest's clock (`guest-set-time`), and its hardware clock from it.
   *
   * @param time The time; default the host's now.
   * @param options Time limit (default 30 s) and signal.
   */
  async setTime(time: Date = new Date(), options: WaitOptions = {}): Promise<void> {
    if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
      throw new TypeError(`Cannot set the guest's time to ${String(time)}: give a valid Date`);
    }
    await this.execute("guest-set-time", { time: time.getTime() * 1_000_000 }, options);
  }

  /**
   * Asks the guest's operating system to stop (`guest-shutdown`), and resolves once it has:
   * the agent sends no reply when it works, so a VM's agent waits for QMP's `SHUTDOWN` or
   * QEMU's exit.
   *
   * @param options Mode (`"powerdown"` by default, `"halt"` or `"reboot"`), time limit (default
   *   30 s) and signal.
   * @throws {GuestAgentError} When the agent reports a failure.
   * @throws {GuestAgentTimeoutError} When the guest does not stop in time.
   */
  async shutdown(options: AgentShutdownOptions = {}): Promise<void> {
    const mode = options.mode ?? "powerdown";
    if (!["powerdown", "halt", "reboot"].includes(mode)) {
      throw new TypeError(
        `Cannot shut the guest down with mode ${
          JSON.stringify(mode)
        }: use "powerdown", "halt" or "reboot"`,
      );
    }
    await this.executeNoReply("guest-shutdown", { mode }, options);
  }

  /** Closes the connection to QEMU (the guest's agent keeps running). */
  async close(): Promise<void> {
    this.#setGone("the agent client was closed");
    // An idle connection is unreferenced; its cancelled read must keep the event loop alive
    // until it completes, or awaiting #closed would end the program with a pending promise.
    this.#alive.hold();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#closed;
  }

  /** Same as {@linkcode GuestAgent.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #unavailable(command: string, reason: string): GuestAgentUnavailableError {
    return new GuestAgentUnavailableError(`run guest agent command "${command}"`, reason);
  }

  #call(call: Call): Promise<unknown> {
    const { command, options } = call;
    if (typeof command !== "string" || command === "") {
      return Promise.reject(
        new TypeError(
          `Cannot run guest agent command ${JSON.stringify(command)}: the name is empty`,
        ),
      );
    }
    try {
      checkTimeout(`run guest agent command "${command}"`, options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#goneReason !== undefined) {
      return Promise.reject(this.#unavailable(command, this.#goneReason));
    }
    const timeout = options.timeout ?? DEFAULT_AGENT_TIMEOUT;
    const deadline = performance.now() + timeout;
    const cancel = new AbortController();
    const run = this.#queue.then(() => this.#run(call, deadline, cancel.signal));
    this.#queue = run.catch(() => {});
    return this.#alive.during(this.#bounded(run, call, timeout, deadline, cancel));
  }

  /** Settles like `promise`, unless the deadline, the caller's signal or the agent's end come first. */
  #bounded(
    promise: Promise<unknown>,
    call: Call,
    timeout: number,
    deadline: number,
    cancel: AbortController,
  ): Promise<unknown> {
    const signal = call.options.signal;
    return new Promise((resolve, reject) => {
      const fail = (error: unknown) => {
        cancel.abort(error);
        finish();
        reject(error);
      };
      const onAbort = () => fail(signal!.reason);
      const timer = setTimeout(
        () => fail(new GuestAgentTimeoutError(this.#waitingFor(call), timeout, this.#whyWaiting())),
        Math.max(0, deadline - performance.now()),
      );
      const onGone = (reason: string) => {
        // Without a VM, the end of the connection is how a shutdown shows.
        if (call.noReply === undefined || this.#poweredOff !== undefined) {
          fail(this.#unavailable(call.command, reason));
        }
      };
      this.#goneListeners.add(onGone);
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#goneListeners.delete(onGone);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      promise.then((value) => {
        finish();
        resolve(value);
      }, fail);
    });
  }

  #waitingFor(call: Call): string {
    return `guest agent command "${call.command}"`;
  }

  #whyWaiting(): string {
    if (this.#port !== undefined && !this.#port.isOpen) {
      return AGENT_PORT_NOT_OPEN;
    }
    return this.#needsSync ? "the agent did not answer a sync" : "the agent did not answer";
  }

  async #run(call: Call, deadline: number, cancelled: AbortSignal): Promise<unknown> {
    if (cancelled.aborted) return undefined;
    await this.#portOpen(cancelled);
    if (this.#needsSync) await this.#sync(cancelled, deadline);
    cancelled.throwIfAborted();
    const id = this.#nextId++;
    const sent: GuestAgentCommand = call.args === undefined
      ? { execute: call.command }
      : { execute: call.command, arguments: call.args };
    let line: string;
    try {
      line = JSON.stringify({ ...sent, id }) + "\n";
    } catch (error) {
      throw new TypeError(
        `Cannot run guest agent command "${call.command}": arguments are not JSON: ${error}`,
      );
    }
    return await this.#roundTrip(sent, { id }, encoder.encode(line), cancelled, call.noReply);
  }

  /** Waits for the guest to open the port, when a VM follows it. */
  async #portOpen(cancelled: AbortSignal): Promise<void> {
    if (this.#port === undefined || this.#port.isOpen) return;
    const { promise, cancel } = this.#port.opened();
    const onAbort = () => cancel();
    cancelled.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([promise, aborted(cancelled)]);
    } finally {
      cancelled.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Synchronises the channel: 0xFF (which resets the agent's parser), then
   * `guest-sync-delimited` with a random id; everything before its reply is dropped. Tried again
   * every 2 s (a reply to an earlier try has another id and is dropped) until the deadline.
   */
  async #sync(cancelled: AbortSignal, deadline: number): Promise<void> {
    while (true) {
      const syncId = crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
      const id = this.#nextId++;
      const sent = { execute: "guest-sync-delimited", arguments: { id: syncId } };
      const bytes = encoder.encode("\xff" + JSON.stringify({ ...sent, id }) + "\n");
      // "\xff" encodes as two UTF-8 bytes; the agent needs the single byte 0xFF.
      const line = new Uint8Array(bytes.length - 1);
      line[0] = 0xff;
      line.set(bytes.subarray(2), 1);
      const attempt = new AbortController();
      const onAbort = () => attempt.abort(cancelled.reason);
      cancelled.addEventListener("abort", onAbort, { once: true });
      const wait = Math.max(0, Math.min(2000, deadline - performance.now()));
      const timer = setTimeout(() => attempt.abort(new SyncRetry()), wait);
      try {
        await this.#roundTrip(sent, { id, syncId }, line, attempt.signal);
        this.#needsSync = false;
        this.#syncs++;
        return;
      } catch (error) {
        if (!(error instanceof SyncRetry)) throw error;
        if (performance.now() >= deadline) {
          // The caller's timer ends the wait at this same deadline with the timeout error, which
          // says what was waited for; the internal retry must not reach the caller first.
          if (!cancelled.aborted) {
            await new Promise((resolve) =>
              cancelled.addEventListener("abort", resolve, { once: true })
            );
          }
          throw cancelled.reason;
        }
      } finally {
        clearTimeout(timer);
        cancelled.removeEventListener("abort", onAbort);
      }
    }
  }

  /** Writes a command and waits for its reply (or, for `noReply`, for its effect). */
  #roundTrip(
    command: GuestAgentCommand,
    match: { id: number; syncId?: number },
    bytes: Uint8Array,
    cancelled: AbortSignal,
    noReply?: () => Promise<void>,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const inflight: Inflight = {
        ...match,
        command,
        resolve: (value) => {
          cancelled.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          cancelled.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        // The reply may still come: it is dropped, and the next command syncs first.
        if (this.#inflight === inflight) this.#inflight = undefined;
        this.#needsSync = true;
        inflight.reject(cancelled.reason);
      };
      if (noReply !== undefined) {
        const done = () => {
          if (this.#inflight === inflight) this.#inflight = undefined;
          this.#needsSync = true;
          inflight.resolve({});
        };
        // A VM's agent knows when the guest stopped (QMP's SHUTDOWN or RESET, or QEMU's exit);
        // the port closing then only means qemu-ga stopped, early in the guest's shutdown, and
        // taking that as done would have QEMU quit under a guest still unmounting its disks.
        // Without a VM, the port closing is all there is to go by.
        inflight.onPortClose = this.#poweredOff === undefined ? done : () => {};
        noReply().then(done, () => {});
      }
      this.#inflight = inflight;
      cancelled.addEventListener("abort", onAbort, { once: true });
      this.#write(bytes).catch((error) => {
        if (this.#inflight === inflight) this.#inflight = undefined;
        inflight.reject(error);
      });
    });
  }

  #write(bytes: Uint8Array): Promise<void> {
    const write = this.#writes.then(async () => {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    });
    this.#writes = write.catch(() => {});
    return write;
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(256 * 1024);
    let reason = "the connection to the agent's socket closed (QEMU exited)";
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        for (const message of this.#framing.push(buffer.subarray(0, n))) this.#onMessage(message);
      }
    } catch (error) {
      if (this.#goneReason === undefined) {
        reason = `the connection to the agent's socket failed: ${
          error instanceof Error ? error.message : String(error)
        }`;
      }
    }
    // A VM says why better than a reset socket does (QEMU exited), and says it a moment later.
    if (this.#linkGone !== undefined && this.#goneReason === undefined) {
      reason = await settledWithin(this.#linkGone, 1000) ?? reason;
    }
    this.#setGone(reason);
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  #onMessage(message: unknown): void {
    const inflight = this.#inflight;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#framing.ignoredLines++;
      return;
    }
    const m = message as Record<string, unknown>;
    if (!("return" in m) && !("error" in m)) {
      this.#framing.ignoredLines++;
      return;
    }
    const matches = inflight !== undefined &&
      ("id" in m
        ? m.id === inflight.id
        // An agent that does not echo ids: after a sync the channel is in order.
        : inflight.syncId === undefined || m.return === inflight.syncId);
    if (
      !matches || (inflight.syncId !== undefined && "return" in m && m.return !== inflight.syncId)
    ) {
      this.#staleReplies++;
      return;
    }
    this.#inflight = undefined;
    if ("error" in m) {
      const error = (m.error ?? {}) as { class?: unknown; desc?: unknown };
      inflight.reject(
        new GuestAgentError(
          String(error.class ?? "GenericError"),
          String(error.desc ?? ""),
          inflight.command,
        ),
      );
    } else {
      inflight.resolve(m.return);
    }
  }
}

/** A sync attempt's own 2 s ran out: send another. */
class SyncRetry extends Error {}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
