/**
 * A QMP client over unix sockets or TCP: pipelined commands matched by id, events with a bounded
 * queue per listener, and clean failure when the connection goes.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import {
  type QmpCommand,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from "./errors.ts";
import { type QmpEvent, QmpEventStream, type QmpEventStreamOptions } from "./event_stream.ts";
import type { QmpCommands, QmpEvents } from "./qapi.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { closeReasonOf } from "./_close_reasons.ts";

/** Every command name the generated QAPI types know (see `lib/qmp/qapi.ts`). */
export type QmpCommandName = keyof QmpCommands;
/** Every event name the generated QAPI types know. */
export type QmpEventName = keyof QmpEvents;
/** The arguments of a command, from the QAPI schema. */
export type QmpArguments<C extends QmpCommandName> = QmpCommands[C]["arguments"];
/** The return value of a command, from the QAPI schema. */
export type QmpReturn<C extends QmpCommandName> = QmpCommands[C]["return"];

/** An event with its `data` typed from the QAPI schema. */
export interface TypedQmpEvent<E extends QmpEventName> {
  /** Event name. */
  event: E;
  /** Event data. */
  data: QmpEvents[E];
  /** When QEMU emitted it. */
  timestamp: QmpEvent["timestamp"];
}

/** What {@linkcode QmpClient.waitForEvent} resolves with: typed for a known event name. */
export type QmpEventOf<E extends string> = E extends QmpEventName ? TypedQmpEvent<E> : QmpEvent;

/** What a command resolves with: typed for a known command name, `unknown` otherwise. */
export type QmpResultOf<C extends string> = C extends QmpCommandName ? QmpReturn<C> : unknown;

/**
 * The arguments and options after a command name: `args` is required when the command has
 * required arguments, typed for a known command, and any JSON object for an unknown one.
 */
export type QmpExecuteRest<C extends string> = C extends QmpCommandName
  ? Record<string, never> extends QmpArguments<C> ? [args?: QmpArguments<C>, options?: WaitOptions]
  : [args: QmpArguments<C>, options?: WaitOptions]
  : [args?: Record<string, unknown>, options?: WaitOptions];

/** QEMU's version, from the QMP greeting. */
export interface QemuVersion {
  /** Major version, such as 7. */
  major: number;
  /** Minor version. */
  minor: number;
  /** Micro (patch) version. */
  micro: number;
  /** Distribution package string, such as `"Debian 1:7.2+dfsg-7"`. */
  package: string;
}

/** Options of {@linkcode QmpClient.connect}. */
export interface QmpConnectOptions extends WaitOptions {
  /**
   * Longest line accepted from QEMU, in bytes; a longer one closes the connection with a
   * {@linkcode QmpProtocolError}. Default 256 MiB.
   */
  maxLineBytes?: number;
  /** Ask for out-of-band support when QEMU offers it. Default true. */
  oob?: boolean;
}

/** Options of {@linkcode QmpClient.waitForEvent}. */
export interface WaitForEventOptions<E = QmpEvent> extends WaitOptions {
  /**
   * Which event to accept: a predicate, or an object whose entries must all equal (deeply) the
   * event's `data` entries, such as `{ device: "disk1" }`.
   */
  match?: ((event: E) => boolean) | Record<string, unknown>;
  /**
   * Whether the wait keeps the Deno process alive. Default true; false for a wait left running
   * in the background.
   */
  keepAlive?: boolean;
}

/** Options of {@linkcode QmpClient.executeAndWait}. */
export interface ExecuteAndWaitOptions<E extends string = string>
  extends WaitForEventOptions<QmpEventOf<E>> {
  /** Name of the event to wait for. */
  event: E;
}

const DEFAULT_CONNECT_TIMEOUT = 10_000;
const DEFAULT_MAX_LINE = 256 * 1024 * 1024;
const NEWLINE = 10;
const encoder = new TextEncoder();
const internal = Symbol("QmpClient");

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  command: QmpCommand;
}

/**
 * Parses a QMP address: `unix:PATH`, `tcp:HOST:PORT`, `HOST:PORT` (`[::1]:4444` too), or a
 * socket path.
 *
 * @param address The address.
 * @returns Deno connect options.
 * @throws {TypeError} When the address is empty or the port is invalid.
 */
export function parseQmpAddress(
  address: string,
): Deno.UnixConnectOptions | Deno.ConnectOptions {
  if (typeof address !== "string" || address === "") {
    throw new TypeError(
      `Cannot connect to QMP at ${JSON.stringify(address)}: the address is empty`,
    );
  }
  if (address.startsWith("unix:")) return { transport: "unix", path: address.slice(5) };
  const tcp = address.startsWith("tcp:") ? address.slice(4) : address;
  const match = /^(\[[^\]]+\]|[^/:]*):(\d+)$/.exec(tcp);
  if (match === null) {
    if (address.startsWith("tcp:")) {
      throw new TypeError(`Cannot connect to QMP at "${address}": expected tcp:HOST:PORT`);
    }
    return { transport: "unix", path: address };
  }
  const port = Number(match[2]);
  if (port < 1 || port > 65535) {
    throw new TypeError(`Cannot connect to QMP at "${address}": port ${port} is not 1 to 65535`);
  }
  const hostname = match[1].replace(/^\[|\]$/g, "") || "127.0.0.1";
  return { transport: "tcp", hostname, port };
}

/** Why connecting to a unix socket path failed, in words that say what to do. */
async function unixConnectProblem(path: string, error: Error): Promise<string> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.lstat(path);
  } catch (statError) {
    // Without read access to the path there is nothing more to say than the error itself.
    if (!(statError instanceof Deno.errors.NotFound)) return error.message;
  }
  if (info === undefined) {
    const hostPort = /^[^/:]+:([^/:]*)$/.exec(path);
    if (hostPort !== null) {
      return `no socket "${path}" exists, and ${
        JSON.stringify(hostPort[1])
      } is not a port number (HOST:PORT takes a port from 1 to 65535)`;
    }
    return `no socket "${path}" exists (is QEMU running with -qmp unix:${path},server=on?)`;
  }
  if (!info.isSocket) {
    const kind = info.isDirectory ? "a directory" : info.isFile ? "a regular file" : "not a socket";
    return `"${path}" is not a socket (it is ${kind}); pass the path of QEMU's QMP socket`;
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return `nothing listens on socket "${path}" (the QEMU that made it has exited)`;
  }
  return error.message;
}

function matches(
  event: QmpEvent,
  match: WaitForEventOptions<never>["match"],
): boolean {
  if (match === undefined) return true;
  if (typeof match === "function") return (match as (event: QmpEvent) => boolean)(event);
  const data = event.data ?? {};
  return Object.entries(match).every(([key, value]) => deepEqual(data[key], value));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) =>
    deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])
  );
}

/**
 * A connection to QEMU's QMP monitor.
 *
 * Every command carries an id and replies are matched by id, so any number of commands can be
 * in flight; commands issued in the same tick go out in one write. When QEMU offers `oob`, it is
 * enabled, which lets QEMU keep reading while it works on a command.
 *
 * @example Query a running QEMU
 * ```ts
 * import { QmpClient } from "@vmkit/vmkit";
 * await using qmp = await QmpClient.connect("/run/vm/qmp.sock", { timeout: 5000 });
 * console.log(qmp.version, await qmp.execute("query-status"));
 * ```
 */
export class QmpClient implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  /** The connection keeps the process alive only while a command or an event wait is pending. */
  readonly #alive: KeepAlive;
  readonly #maxLineBytes: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<QmpEventStream>();
  #nextId = 1;
  /**
   * Ids whose reply has come, free to use again: ids stay as short as the number of commands in
   * flight, where a counter grows for the life of the connection. QEMU reads every byte of every
   * command and writes the id back; on the 1000-concurrent benchmark, five-digit ids cost about
   * 5% of the rate against three-digit ones. An id whose command timed out or was aborted is
   * never used again, since its reply may still come.
   */
  readonly #freeIds: number[] = [];
  #outbox: string[] = [];
  #flushing = false;
  #closed = false;
  #closeError?: QmpDisconnectedError;
  #resolveClosed!: () => void;
  readonly #closedPromise: Promise<void>;
  #greeting?: Record<string, unknown>;
  #onGreeting?: (greeting: Record<string, unknown>) => void;
  #capabilities: string[] = [];
  #ignoredLines = 0;
  /** The start of the first line skipped, to say what a peer that is not QMP sent. */
  #firstIgnored?: string;
  #unmatchedReplies = 0;

  /**
   * Connects to a QMP socket, reads the greeting (skipping anything before it) and negotiates
   * capabilities, with `oob` when QEMU offers it.
   *
   * @param address A unix socket path, `unix:PATH`, `HOST:PORT` or `tcp:HOST:PORT`.
   * @param options Time limit (default 10 s) for connecting and negotiating, signal, line limit.
   * @returns A ready client.
   * @throws {QmpTimeoutError} When the greeting or the negotiation does not come in time.
   * @throws {QmpDisconnectedError} When the connection closes during the handshake.
   * @throws {Deno.errors.NotFound} When the socket does not exist.
   */
  static async connect(address: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const target = parseQmpAddress(address);
    checkTimeout(`connect to QMP at "${address}"`, options.timeout);
    const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
    const started = performance.now();
    let conn: Deno.Conn;
    try {
      conn = await withDeadline(
        Deno.connect(target as Deno.ConnectOptions),
        { signal: options.signal, timeout },
        () => new QmpTimeoutError("connection", timeout),
      );
    } catch (error) {
      if (
        error instanceof Error && error.name !== "QmpTimeoutError" &&
        error !== options.signal?.reason
      ) {
        error.message = `Cannot connect to QMP at "${address}": ${
          target.transport === "unix" ? await unixConnectProblem(target.path, error) : error.message
        }`;
      }
      throw error;
    }
    const remaining = Math.max(0, timeout - (performance.now() - started));
    try {
      return await QmpClient.fromConn(conn, { ...options, timeout: remaining });
    } catch (error) {
      if (error instanceof QmpDisconnectedError && /^QMP connection lost/.test(error.message)) {
        error.message = `Cannot connect to QMP at "${address}": ${error.message}`;
      }
      if (error instanceof QmpTimeoutError && /greeting/.test(error.message)) {
        // QEMU greets a client as soon as it accepts it, and a monitor accepts one client at a
        // time: the connection waits in the socket's backlog while another client is attached,
        // or while QEMU does not run (stopped by SIGSTOP, or hung).
        error.message = `Cannot connect to QMP at "${address}": no greeting within ${
          Math.round(remaining)
        } ms; a QEMU monitor serves one client at a time, so another client (a qmp-shell, libvirt, another script) is probably connected to it, or QEMU is stopped (SIGSTOP: state T in /proc/PID/stat; kill -CONT PID) or hung; close that client, or give the VM another monitor (.qmpSocket())`;
      }
      throw error;
    }
  }

  /**
   * Runs the QMP handshake on an open connection, such as one QEMU made to a socket you listen
   * on (`-chardev socket,path=...` without `server=on`). The client owns the connection.
   *
   * @param conn An open connection to QEMU's monitor.
   * @param options Time limit (default 10 s), signal, line limit.
   * @returns A ready client.
   * @throws {QmpTimeoutError} When the greeting or the negotiation does not come in time.
   * @throws {QmpDisconnectedError} When the connection closes during the handshake.
   */
  static async fromConn(conn: Deno.Conn, options: QmpConnectOptions = {}): Promise<QmpClient> {
    checkTimeout("start a QMP session", options.timeout);
    const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE;
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1024) {
      throw new RangeError(
        `Cannot start a QMP session with maxLineBytes ${maxLineBytes}: use 1024 or more`,
      );
    }
    const client = new QmpClient(internal, conn, maxLineBytes);
    const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
    try {
      const greeting = await client.#alive.during(
        withDeadline(
          new Promise<Record<string, unknown>>((resolve, reject) => {
            client.#onGreeting = resolve;
            client.#closedPromise.then(() =>
              reject(client.#closeError ?? new QmpDisconnectedError("QMP connection closed"))
            );
          }),
          { signal: options.signal, timeout },
          () => new QmpTimeoutError("greeting", timeout),
        ).catch((error) => {
          if (error instanceof QmpDisconnectedError && client.#greeting === undefined) {
            const sent = client.#firstIgnored;
            error.message = `QMP connection lost: the peer closed it without a QMP greeting${
              sent === undefined ? "" : ` after sending ${JSON.stringify(sent)}`
            } (is it a QEMU QMP socket?)`;
          }
          throw error;
        }),
      );
      const offered = ((greeting.QMP as Record<string, unknown>)?.capabilities ?? []) as string[];
      const enable = options.oob !== false && offered.includes("oob") ? ["oob"] : [];
      await client.#execute(
        "qmp_capabilities",
        enable.length > 0 ? { enable } : undefined,
        { signal: options.signal, timeout },
      );
      client.#capabilities = enable;
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /**
   * Use {@linkcode QmpClient.connect} or {@linkcode QmpClient.fromConn}.
   *
   * @param key Internal.
   * @param conn The connection.
   * @param maxLineBytes Line limit.
   */
  constructor(key: symbol, conn: Deno.Conn, maxLineBytes: number) {
    if (key !== internal) {
      throw new TypeError(
        "Cannot construct QmpClient: use QmpClient.connect() or QmpClient.fromConn()",
      );
    }
    this.#conn = conn;
    this.#alive = new KeepAlive(conn);
    this.#maxLineBytes = maxLineBytes;
    this.#closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve));
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    this.#readLoop();
  }

  /** QEMU's version, from the greeting. */
  get version(): QemuVersion {
    const qmp = (this.#greeting?.QMP ?? {}) as {
      version?: { qemu?: QemuVersion; package?: string };
    };
    const qemu = qmp.version?.qemu ?? { major: 0, minor: 0, micro: 0 };
    return {
      major: qemu.major,
      minor: qemu.minor,
      micro: qemu.micro,
      package: qmp.version?.package ?? "",
    };
  }

  /** The greeting QEMU sent, as received. */
  get greeting(): Record<string, unknown> {
    return structuredClone(this.#greeting ?? {});
  }

  /** Capabilities enabled for this session (`["oob"]` or `[]`). */
  get capabilities(): readonly string[] {
    return this.#capabilities;
  }

  /** Lines that were not JSON objects, or of no known kind, and were skipped. */
  get ignoredLines(): number {
    return this.#ignoredLines;
  }

  /** Replies whose id matched no pending command (after a timeout, say), skipped. */
  get unmatchedReplies(): number {
    return this.#unmatchedReplies;
  }

  /** Whether the connection has closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves when the connection has closed, with the reason when it was not closed by
   * {@linkcode QmpClient.close}.
   */
  get closed(): Promise<QmpDisconnectedError | undefined> {
    return this.#closedPromise.then(() => this.#closeError);
  }

  /**
   * Sends a command and resolves with its `return` value. For a command of the QAPI schema
   * (`lib/qmp/qapi.ts`) the arguments and the result are typed; any other name is sent as is,
   * with any JSON object as arguments.
   *
   * @param command Command name, such as `"query-status"`.
   * @param rest The arguments (required when the command has required ones), then time limit
   *   and signal; on either the command is forgotten here, though QEMU may still carry it out.
   * @returns The command's `return` value.
   * @throws {QmpError} When QEMU answers with an error (class, description, command kept).
   * @throws {QmpTimeoutError} When no reply comes within `timeout`.
   * @throws {QmpDisconnectedError} When the connection closes first (a `quit` still resolves).
   *
   * @example Typed arguments and result
   * ```ts
   * import type { QmpClient } from "@vmkit/vmkit";
   * declare const qmp: QmpClient;
   * const { status } = await qmp.execute("query-status");
   * await qmp.execute("blockdev-add", {
   *   driver: "qcow2", "node-name": "disk1", file: { driver: "file", filename: "/tmp/disk.qcow2" },
   * });
   * ```
   */
  execute<C extends string>(command: C, ...rest: QmpExecuteRest<C>): Promise<QmpResultOf<C>> {
    const [args, options = {}] = rest as [Record<string, unknown> | undefined, WaitOptions?];
    return this.#execute(command, args, options) as Promise<QmpResultOf<C>>;
  }

  #execute(
    command: string,
    args: Record<string, unknown> | undefined,
    options: WaitOptions,
  ): Promise<unknown> {
    if (typeof command !== "string" || command === "") {
      return Promise.reject(
        new TypeError(`Cannot execute QMP command ${JSON.stringify(command)}: the name is empty`),
      );
    }
    const sent: QmpCommand = args === undefined
      ? { execute: command }
      : { execute: command, arguments: args };
    if (this.#closed) {
      return Promise.reject(
        new QmpDisconnectedError(
          `Cannot execute QMP command "${command}": the connection is closed${closeReasonOf(this)}`,
          {
            cause: this.#closeError,
            command: sent,
          },
        ),
      );
    }
    try {
      checkTimeout(`execute QMP command "${command}"`, options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#freeIds.pop() ?? this.#nextId++;
    let line: string;
    try {
      line = JSON.stringify(
        args === undefined ? { execute: command, id } : { execute: command, arguments: args, id },
      );
    } catch (error) {
      return Promise.reject(
        new TypeError(`Cannot execute QMP command "${command}": arguments are not JSON: ${error}`),
      );
    }
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, command: sent });
    });
    this.#outbox.push(line + "\n");
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
    return this.#alive.during(withDeadline(
      reply,
      options,
      () => new QmpTimeoutError(`reply to "${command}"`, options.timeout!),
      () => this.#pending.delete(id),
    ));
  }

  /**
   * Runs a human monitor (HMP) command through `human-monitor-command`.
   *
   * @param commandLine The HMP command line, such as `"info registers"`.
   * @param options Time limit and signal.
   * @returns What HMP printed.
   */
  async hmp(commandLine: string, options: WaitOptions = {}): Promise<string> {
    return await this.execute("human-monitor-command", { "command-line": commandLine }, options);
  }

  /**
   * Listens to events. Each listener has its own bounded queue (see {@linkcode QmpOverflowPolicy})
   * so a slow one never delays replies. Break out of the loop, or abort the signal, to stop.
   *
   * @param options Event names, signal, queue capacity, overflow policy.
   * @returns An async iterator of events; it ends when the connection closes.
   *
   * @example
   * ```ts
   * import type { QmpClient } from "@vmkit/vmkit";
   * declare const qmp: QmpClient;
   * for await (const event of qmp.events({ names: ["STOP", "RESUME"] })) console.log(event.event);
   * ```
   */
  events(options: QmpEventStreamOptions = {}): QmpEventStream {
    const stream = new QmpEventStream(
      options,
      (s) => this.#listeners.delete(s),
      () => this.#alive.hold(),
    );
    if (this.#closed) stream.end();
    else this.#listeners.add(stream);
    return stream;
  }

  /**
   * Waits for the next event of a name (matching `match`, if given) that arrives from now on.
   * For an event of the QAPI schema, `data` is typed.
   *
   * @param name The event name.
   * @param options Match, time limit and signal.
   * @returns The event.
   * @throws {QmpTimeoutError} When no such event comes within `timeout`.
   * @throws {QmpDisconnectedError} When the connection closes first.
   *
   * @example
   * ```ts
   * import type { QmpClient } from "@vmkit/vmkit";
   * declare const qmp: QmpClient;
   * const event = await qmp.waitForEvent("DEVICE_DELETED", { match: { device: "disk1" } });
   * console.log(event.data.path);
   * ```
   */
  waitForEvent<E extends string>(
    name: E,
    options: WaitForEventOptions<QmpEventOf<E>> = {},
  ): Promise<QmpEventOf<E>> {
    return this.#waitForEvent(name, options as WaitForEventOptions<never>)
      .promise as Promise<QmpEventOf<E>>;
  }

  #waitForEvent(
    name: string,
    options: WaitForEventOptions<never>,
  ): { promise: Promise<QmpEvent>; cancel: () => void } {
    checkTimeout(`wait for QMP event "${name}"`, options.timeout);
    const stream = this.events({
      names: [name],
      capacity: 1 << 30,
      ...options.keepAlive === false ? { keepAlive: false } : {},
    });
    const found = (async () => {
      for await (const event of stream) {
        if (matches(event, options.match)) return event;
      }
      throw new QmpDisconnectedError(
        `Cannot wait for QMP event "${name}": the connection closed${closeReasonOf(this)}`,
        { cause: this.#closeError },
      );
    })();
    const promise = withDeadline(
      found,
      options,
      () => new QmpTimeoutError(`event "${name}"`, options.timeout!),
      () => stream.return(),
    ).finally(() => stream.return());
    return { promise, cancel: () => stream.return() };
  }

  /**
   * Subscribes to an event, then sends a command, then waits for both its reply and the event,
   * so an event that QEMU sends before the reply is not missed.
   *
   * @param command Command name.
   * @param args Its arguments.
   * @param options The event name, match, time limit (for both) and signal.
   * @returns The reply and the event.
   * @throws {QmpError} When the command fails (the wait is dropped).
   * @throws {QmpTimeoutError} When the reply or the event does not come within `timeout`.
   *
   * @example
   * ```ts
   * import type { QmpClient } from "@vmkit/vmkit";
   * declare const qmp: QmpClient;
   * await qmp.executeAndWait("device_del", { id: "disk1" }, {
   *   event: "DEVICE_DELETED", match: { device: "disk1" }, timeout: 5000,
   * });
   * ```
   */
  async executeAndWait<C extends string, E extends string>(
    command: C,
    args: QmpExecuteRest<C>[0],
    options: ExecuteAndWaitOptions<E>,
  ): Promise<{ reply: QmpResultOf<C>; event: QmpEventOf<E> }> {
    const waiting = this.#waitForEvent(options.event, options as WaitForEventOptions<never>);
    waiting.promise.catch(() => {});
    try {
      const reply = await this.#execute(command, args as Record<string, unknown>, options);
      return {
        reply: reply as QmpResultOf<C>,
        event: await waiting.promise as QmpEventOf<E>,
      };
    } finally {
      waiting.cancel();
    }
  }

  /** Closes the connection; pending commands reject with {@linkcode QmpDisconnectedError}. */
  close(): Promise<void> {
    this.#teardown(undefined, true);
    return this.#closedPromise;
  }

  /** Same as {@linkcode QmpClient.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#outbox.length > 0 && !this.#closed) {
        const bytes = encoder.encode(
          this.#outbox.length === 1 ? this.#outbox[0] : this.#outbox.join(""),
        );
        this.#outbox = [];
        let written = 0;
        while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
      }
    } catch (error) {
      this.#teardown(error);
    } finally {
      this.#flushing = false;
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(256 * 1024);
    const decoder = new TextDecoder();
    let partial: Uint8Array[] = [];
    let partialLength = 0;
    let cause: unknown;
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          cause = new Error("QEMU closed the connection (EOF)");
          break;
        }
        const chunk = buffer.subarray(0, n);
        const last = chunk.lastIndexOf(NEWLINE);
        if (last < 0) {
          partial.push(chunk.slice());
          partialLength += n;
        } else {
          let text: string;
          if (partialLength > 0) {
            const joined = new Uint8Array(partialLength + last);
            let offset = 0;
            for (const part of partial) {
              joined.set(part, offset);
              offset += part.length;
            }
            joined.set(chunk.subarray(0, last), offset);
            text = decoder.decode(joined);
            partial = [];
            partialLength = 0;
          } else {
            text = decoder.decode(chunk.subarray(0, last));
          }
          this.#onText(text);
          if (last + 1 < n) {
            partial.push(chunk.slice(last + 1));
            partialLength = n - last - 1;
          }
        }
        if (partialLength > this.#maxLineBytes) {
          cause = new QmpProtocolError(
            `QMP line longer than ${this.#maxLineBytes} bytes (maxLineBytes)`,
          );
          break;
        }
      }
    } catch (error) {
      cause = error;
    }
    this.#teardown(cause);
  }

  #onText(text: string): void {
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length === 0 || line === "\r") continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        this.#ignoredLines++;
        this.#firstIgnored ??= line.slice(0, 80);
        continue;
      }
      this.#onMessage(message);
    }
  }

  #onMessage(message: unknown): void {
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#ignoredLines++;
      return;
    }
    const m = message as Record<string, unknown>;
    if ("return" in m || "error" in m) {
      const pending = typeof m.id === "number" ? this.#pending.get(m.id) : undefined;
      if (pending === undefined) {
        this.#unmatchedReplies++;
        return;
      }
      this.#pending.delete(m.id as number);
      this.#freeIds.push(m.id as number);
      if ("error" in m) {
        const error = (m.error ?? {}) as { class?: unknown; desc?: unknown };
        pending.reject(
          new QmpError(
            String(error.class ?? "GenericError"),
            String(error.desc ?? ""),
            pending.command,
          ),
        );
      } else {
        pending.resolve(m.return);
      }
    } else if (typeof m.event === "string") {
      for (const listener of this.#listeners) listener.push(m as unknown as QmpEvent);
    } else if ("QMP" in m && this.#greeting === undefined) {
      this.#greeting = m;
      this.#onGreeting?.(m);
    } else {
      this.#ignoredLines++;
    }
  }

  #teardown(cause: unknown, byUser = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!byUser) {
      this.#closeError = new QmpDisconnectedError(
        `QMP connection lost: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer; nothing is left to release.
    }
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      if (pending.command.execute === "quit") {
        pending.resolve({});
        continue;
      }
      pending.reject(
        new QmpDisconnectedError(
          `Cannot complete QMP command "${pending.command.execute}": ${
            byUser ? "the client was closed" : "the connection was lost"
          }`,
          { cause: this.#closeError ?? cause, command: pending.command },
        ),
      );
    }
    for (const listener of [...this.#listeners]) listener.end();
    this.#listeners.clear();
    this.#resolveClosed();
  }
}
