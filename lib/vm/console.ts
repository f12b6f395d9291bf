/**
 * The guest's serial console: a transcript from its first byte, expect/send, and `exec` with
 * unique markers.
 *
 * @module
 */

import { checkTimeout, settledWithin, type WaitOptions, withDeadline } from "../_deadline.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { shellQuote } from "./qemu_opts.ts";

/** Waiting on the console ran out of time. */
export class ConsoleTimeoutError extends Error {
  override readonly name = "ConsoleTimeoutError";
  /** What was awaited. */
  readonly pattern: string;
  /** The limit in milliseconds. */
  readonly timeout: number;
  /** The last 2000 characters of the transcript, to see what the guest was doing. */
  readonly tail: string;

  /**
   * @param pattern What was awaited.
   * @param timeout The limit.
   * @param tail The end of the transcript.
   */
  constructor(pattern: string, timeout: number, tail: string) {
    super(
      `Timed out after ${timeout} ms waiting for ${pattern} on the console; it last showed:\n${tail}`,
    );
    this.pattern = pattern;
    this.timeout = timeout;
    this.tail = tail;
  }
}

/** How QEMU ended, as a closed console reports it. */
export interface ConsoleExit {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that killed QEMU, if any. */
  signal: Deno.Signal | null;
}

/** The console closed (QEMU exited) before or while something waited on it. */
export class ConsoleClosedError extends Error {
  override readonly name = "ConsoleClosedError";
  /** How QEMU exited, when it is known. */
  readonly exit?: ConsoleExit;

  /**
   * @param message What could not be done, and why.
   * @param options QEMU's exit, when known.
   */
  constructor(message: string, options: { exit?: ConsoleExit } = {}) {
    super(message);
    if (options.exit !== undefined) this.exit = options.exit;
  }
}

/** "QEMU exited with code 0", "QEMU was killed by SIGKILL". */
function describeExit(exit: ConsoleExit | undefined): string {
  if (exit === undefined) return "the console closed";
  return exit.signal !== null
    ? `QEMU was killed by ${exit.signal}`
    : `QEMU exited with code ${exit.code}`;
}

/** What {@linkcode Console.expect} found. */
export interface ExpectResult {
  /** The matched text. */
  match: string;
  /** Regular expression groups, when the pattern was a RegExp. */
  groups: string[];
  /** Transcript text between the previous match and this one. */
  before: string;
}

/** What {@linkcode Console.exec} returns. */
export interface ExecResult {
  /** What the command printed (stdout and stderr, `\r\n` turned into `\n`, no final newline). */
  output: string;
  /** The command's exit status. */
  exitCode: number;
}

/** Options of {@linkcode Console}. */
export interface ConsoleOptions {
  /** The shell prompt, awaited once before the first `exec`. Default: `#` or `$` and a space at the end. */
  prompt?: RegExp;
  /** QEMU's exit, so that a console that closes says how QEMU ended. */
  exited?: Promise<ConsoleExit>;
  /**
   * Called before each `exec`; it throws when the guest cannot run a command now (its CPUs are
   * stopped), so `exec` fails at once instead of timing out.
   */
  checkRunnable?: (action: string) => Promise<void>;
}

/** A shell prompt at the end of the output; busybox's line editor may add a cursor query. */
const DEFAULT_PROMPT = new RegExp("[#$] (\u001b\\[6n)?$");

/**
 * Longest line typed into the guest's shell at once. busybox's line editor takes 1023 bytes
 * (`FEATURE_EDITING_MAX_LEN`) and drops the rest; a tty in canonical mode takes 4095. A longer
 * command is typed as several lines, each adding a piece to a shell variable.
 */
const LINE_BYTES = 768;
/** Longest command `exec` takes, once single-quoted. */
const MAX_COMMAND_BYTES = 64 * 1024;
const encoder = new TextEncoder();

interface Waiter {
  regexp: RegExp;
  from: number;
  advance: boolean;
  resolve: (result: ExpectResult) => void;
  reject: (error: unknown) => void;
  release: () => void;
}

interface StreamReader {
  controller: ReadableStreamDefaultController<Uint8Array>;
  release?: () => void;
}

/**
 * A guest serial console over a connection QEMU made to vmkit. Everything the guest printed is
 * kept from the first byte.
 */
export class Console {
  readonly #conn: Deno.Conn;
  /** The connection keeps the process alive only while something waits on the console. */
  readonly #alive: KeepAlive;
  readonly #prompt: RegExp;
  readonly #exited?: Promise<ConsoleExit>;
  readonly #checkRunnable?: (action: string) => Promise<void>;
  readonly #decoder = new TextDecoder();
  readonly #chunks: Uint8Array[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #streams = new Set<StreamReader>();
  readonly #closed: Promise<void>;
  #text = "";
  #cursor = 0;
  #isClosed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #ready?: Promise<unknown>;
  /** Where to look for the prompt: 0, or where the guest last reset. */
  #promptFrom = 0;
  /** Set while the guest resets: commands wait for it (see holdForReset). */
  #hold?: Promise<void>;
  #releaseHold?: () => void;
  #execCount = 0;

  /**
   * Made by `launch()`.
   *
   * @param conn The connection QEMU's serial chardev opened.
   * @param options The prompt.
   */
  constructor(conn: Deno.Conn, options: ConsoleOptions = {}) {
    this.#conn = conn;
    this.#alive = new KeepAlive(conn);
    this.#prompt = options.prompt ?? DEFAULT_PROMPT;
    this.#exited = options.exited;
    this.#checkRunnable = options.checkRunnable;
    this.#closed = this.#readLoop();
  }

  /** Everything the guest printed so far, decoded as UTF-8. */
  get transcript(): string {
    return this.#text;
  }

  /** Resolves when the console closes (QEMU exited or the VM was disposed). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Tells the console that the guest's shell is already at its prompt, so the first `exec` does
   * not wait for one: after a live migration the prompt was printed on the source's console.
   * `Vm.migrateTo` calls it on the destination.
   */
  assumePrompt(): void {
    this.#ready = Promise.resolve();
    this.#release();
  }

  /**
   * Forgets the prompt seen so far: the next `exec` waits for the shell's prompt printed from
   * now on, and commands held by {@linkcode Console.holdForReset} go on. `Vm` calls it when the
   * guest resets, so a command is never typed into a booting guest.
   */
  expectNewPrompt(): void {
    this.#promptFrom = this.#text.length;
    this.#ready = undefined;
    this.#release();
  }

  /**
   * Holds every `exec` until {@linkcode Console.expectNewPrompt} (or
   * {@linkcode Console.assumePrompt}): the guest is about to reset, and a prompt it prints
   * before the reset is done must not start a command. `Vm.reset` calls it.
   */
  holdForReset(): void {
    this.#hold ??= new Promise<void>((resolve) => (this.#releaseHold = resolve));
  }

  #release(): void {
    const release = this.#releaseHold;
    this.#hold = undefined;
    this.#releaseHold = undefined;
    release?.();
  }

  /**
   * A stream of the console's bytes: everything so far, then what comes, until it closes. A read
   * that waits for more keeps the process alive; an idle stream does not.
   *
   * @returns A new readable stream; each call gives an independent one.
   */
  stream(): ReadableStream<Uint8Array> {
    let reader: StreamReader;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        reader = { controller };
        for (const chunk of this.#chunks) controller.enqueue(chunk.slice());
        if (this.#isClosed) controller.close();
        else this.#streams.add(reader);
      },
      pull: () => {
        if (!this.#isClosed) reader.release ??= this.#alive.hold();
      },
      cancel: () => {
        reader.release?.();
        this.#streams.delete(reader);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Waits until the console shows `pattern` after the previous match, and moves past it.
   *
   * @param pattern Text or a regular expression.
   * @param options Time limit and signal.
   * @returns The match and the text before it.
   * @throws {ConsoleTimeoutError} When it does not show in time.
   * @throws {ConsoleClosedError} When the console closes first.
   */
  expect(pattern: string | RegExp, options: WaitOptions = {}): Promise<ExpectResult> {
    return this.#expect(pattern, this.#cursor, true, options);
  }

  /**
   * Types text into the console, as is (add `"\n"` to submit a line).
   *
   * @param text What to type.
   * @throws {ConsoleClosedError} When the console is closed.
   */
  async send(text: string): Promise<void> {
    if (this.#isClosed) throw new ConsoleClosedError("Cannot send to the console: it is closed");
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /**
   * Runs a shell command in the guest and returns its output and exit status. Waits for the
   * shell prompt once first; commands run one at a time, in the console's shell, so `cd` and
   * variables carry over to the next. A syntax or expansion error (`$((1/0))`) ends the command
   * with a non-zero status (2 in busybox `sh` and dash, 1 in bash) instead of the whole line.
   * A command too long for one line of the shell's line editor is typed as several lines, and
   * control characters (Tab, Escape, Ctrl-C...) travel escaped, never as keys.
   *
   * @param command A shell command (may span lines and hold any character but NUL; at most
   *   64 KiB once single-quoted).
   * @param options Time limit (default 60 s) and signal; on either, Ctrl-C is sent to the guest.
   * @returns Output and exit status.
   * @throws {TypeError} When the command is empty or contains NUL.
   * @throws {RangeError} When the command is longer than 64 KiB once quoted.
   * @throws {ConsoleTimeoutError} When the command does not finish in time.
   * @throws {ConsoleClosedError} When QEMU has exited, or exits (or the guest's shell ends)
   *   before the command finishes; the message says which, with QEMU's exit status.
   * @throws {Error} What the VM's check throws when its CPUs are stopped (a paused VM).
   *
   * @example
   * ```ts ignore
   * const { output, exitCode } = await guest.console.exec("uname -m");
   * ```
   */
  exec(command: string, options: WaitOptions = {}): Promise<ExecResult> {
    if (typeof command !== "string" || command.trim() === "") {
      return Promise.reject(
        new TypeError(`Cannot exec ${JSON.stringify(command)}: the command is empty`),
      );
    }
    if (command.includes("\0")) {
      return Promise.reject(
        new TypeError(`Cannot exec ${JSON.stringify(command)}: it contains NUL`),
      );
    }
    const size = encoder.encode(shellQuote(command)).length;
    if (size > MAX_COMMAND_BYTES) {
      return Promise.reject(
        new RangeError(
          `Cannot exec a command of ${size} bytes once quoted: the console takes at most ${MAX_COMMAND_BYTES}; copy a script into the guest instead`,
        ),
      );
    }
    try {
      checkTimeout("exec on the console", options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#queue.then(() => this.#exec(command, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #exec(command: string, options: WaitOptions): Promise<ExecResult> {
    const timeout = options.timeout ?? 60_000;
    const started = performance.now();
    const what = `Cannot exec ${JSON.stringify(command)}`;
    if (this.#isClosed) throw await this.#closedError(`${what}:`);
    await this.#checkRunnable?.(`exec ${JSON.stringify(command)}`);
    const ready = (async () => {
      while (this.#hold !== undefined) await this.#hold;
      return await (this.#ready ??= this.#expect(this.#prompt, this.#promptFrom, false, {}));
    })();
    await withDeadline(
      ready,
      { signal: options.signal, timeout },
      () => new ConsoleTimeoutError(`the shell prompt ${this.#prompt}`, timeout, this.#tail()),
    ).catch(async (error) => {
      if (error instanceof ConsoleClosedError) {
        throw await this.#closedError(`${what}: the shell prompt never came, and`);
      }
      throw error;
    });
    const token = `${Date.now().toString(36)}${(this.#execCount++).toString(36)}`;
    // The markers are split by quotes in what is typed, so the tty's echo never matches them.
    const begin = `VMKIT_B${token}`;
    const end = `VMKIT_E${token}`;
    const from = this.#text.length;
    // Typed after this point, so the wait below sees everything the command prints.
    await this.send(commandLines(command, token).join("")).catch(async (error) => {
      if (error instanceof ConsoleClosedError) {
        throw await this.#closedError(
          `${what}: the console closed before the command started, and`,
        );
      }
      throw error;
    });
    const done = this.#expect(
      new RegExp(`${begin}\\r?\\n([^]*?)${end}:(\\d+)\\r?\\n`),
      from,
      true,
      {},
    );
    const remaining = Math.max(0, timeout - (performance.now() - started));
    try {
      const result = await withDeadline(
        done,
        { signal: options.signal, timeout: remaining },
        () =>
          new ConsoleTimeoutError(
            `command ${JSON.stringify(command)} to finish`,
            timeout,
            this.#tail(),
          ),
      );
      const output = result.groups[0].replaceAll("\r\n", "\n").replace(/\n$/, "");
      return { output, exitCode: Number(result.groups[1]) };
    } catch (error) {
      if (error instanceof ConsoleClosedError) {
        const started = new RegExp(`${begin}\\r?\\n`).test(this.#text.slice(from));
        throw await this.#closedError(
          started
            ? `${what}: the guest's shell ended before the command finished, and`
            : `${what}: the console closed before the command started, and`,
        );
      }
      if (!this.#isClosed) await this.send("\x03").catch(() => {});
      throw error;
    }
  }

  /** The error for a console that closed: says how QEMU ended, waiting up to 1 s to know. */
  async #closedError(prefix: string): Promise<ConsoleClosedError> {
    const exit = this.#exited === undefined ? undefined : await settledWithin(this.#exited, 1000);
    return new ConsoleClosedError(
      `${prefix} ${describeExit(exit)}`,
      exit === undefined ? {} : { exit },
    );
  }

  #expect(
    pattern: string | RegExp,
    from: number,
    advance: boolean,
    options: WaitOptions,
  ): Promise<ExpectResult> {
    try {
      checkTimeout("expect on the console", options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const source = typeof pattern === "string"
      ? pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      : pattern.source;
    const flags = typeof pattern === "string" ? "g" : pattern.flags.replace(/[gy]/g, "") + "g";
    let waiter!: Waiter;
    const found = new Promise<ExpectResult>((resolve, reject) => {
      waiter = {
        regexp: new RegExp(source, flags),
        from,
        advance,
        resolve,
        reject,
        release: () => {},
      };
    });
    if (!this.#check(waiter)) {
      if (this.#isClosed) {
        waiter.reject(
          new ConsoleClosedError(`Cannot wait for ${String(pattern)}: the console closed`),
        );
      } else {
        waiter.release = this.#alive.hold();
        this.#waiters.add(waiter);
      }
    }
    return withDeadline(
      found,
      options,
      () => new ConsoleTimeoutError(String(pattern), options.timeout!, this.#tail()),
      () => {
        waiter.release();
        this.#waiters.delete(waiter);
      },
    );
  }

  #check(waiter: Waiter): boolean {
    waiter.regexp.lastIndex = waiter.from;
    const match = waiter.regexp.exec(this.#text);
    if (match === null) return false;
    const end = match.index + match[0].length;
    const before = this.#text.slice(waiter.advance ? this.#cursor : waiter.from, match.index);
    if (waiter.advance) this.#cursor = Math.max(this.#cursor, end);
    waiter.release();
    waiter.resolve({ match: match[0], groups: match.slice(1), before });
    return true;
  }

  #tail(): string {
    return this.#text.slice(-2000);
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const chunk = buffer.slice(0, n);
        this.#chunks.push(chunk);
        this.#text += this.#decoder.decode(chunk, { stream: true });
        for (const reader of this.#streams) {
          reader.controller.enqueue(chunk.slice());
          reader.release?.();
          reader.release = undefined;
        }
        for (const waiter of [...this.#waiters]) {
          if (this.#check(waiter)) this.#waiters.delete(waiter);
        }
      }
    } catch {
      // A reset when QEMU exits ends the console like EOF does.
    }
    this.#isClosed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    for (const reader of this.#streams) {
      reader.controller.close();
      reader.release?.();
    }
    this.#streams.clear();
    for (const waiter of this.#waiters) {
      waiter.release();
      waiter.reject(new ConsoleClosedError(`Cannot wait for ${waiter.regexp}: the console closed`));
    }
    this.#waiters.clear();
  }

  /** Closes the connection (QEMU keeps running). */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#closed;
  }
}

/**
 * What `exec` types: one line that prints the begin marker, runs the command with `command
 * eval` and prints the end marker with its status. One line, so the shell reads all of it
 * before running any, and the tty's echo of it comes before the begin marker. `command eval`
 * runs the command in this shell (so `cd` and variables persist), and an error the shell would
 * abort the whole line for (a syntax error, `$((1/0))`, `${x?}`) becomes a non-zero status.
 * A command whose quoted form does not fit in one editor line is first gathered into
 * `VMKIT_C`, a piece per line; one with control characters is gathered with them as octal
 * escapes, which `printf %b` turns back.
 */
function commandLines(command: string, token: string): string[] {
  const run = (script: string) =>
    `printf '%s\\n' VMKIT_B'${token}'; command eval ${script}; printf '%s:%s\\n' VMKIT_E'${token}' "$?"`;
  // Control characters (but newline) would be keys to the line editor: Tab completes, Ctrl-C
  // cancels, Escape starts a sequence. They travel as printf %b octal escapes instead.
  const encoded = CONTROL.test(command);
  const text = encoded
    ? command.replaceAll("\\", "\\\\").replace(
      CONTROL_ALL,
      (char) => `\\0${char.charCodeAt(0).toString(8).padStart(3, "0")}`,
    )
    : command;
  const quoted = shellQuote(text);
  if (!encoded && encoder.encode(run(quoted)).length <= LINE_BYTES) return [run(quoted) + "\n"];
  const lines: string[] = [];
  let piece = "";
  let pieceBytes = 0;
  const flush = () => {
    const value = shellQuote(piece);
    lines.push(lines.length === 0 ? `VMKIT_C=${value}\n` : `VMKIT_C="$VMKIT_C"${value}\n`);
    piece = "";
    pieceBytes = 0;
  };
  for (const char of text) {
    // Quoted, a ' takes four bytes; every piece adds two quotes and at most 18 bytes before it.
    const bytes = char === "'" ? 4 : encoder.encode(char).length;
    if (pieceBytes + bytes > LINE_BYTES - 32) flush();
    piece += char;
    pieceBytes += bytes;
  }
  if (piece !== "") flush();
  // The "_" keeps newlines at the end, which command substitution would drop.
  if (encoded) lines.push(`VMKIT_C=$(printf '%b_' "$VMKIT_C"); VMKIT_C=\${VMKIT_C%_}\n`);
  lines.push(`${run('"$VMKIT_C"')}; unset VMKIT_C\n`);
  return lines;
}

/** Control characters that would be keys to a line editor: all but newline. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x01-\x09\x0b-\x1f\x7f]/;
const CONTROL_ALL = new RegExp(CONTROL.source, "g");
