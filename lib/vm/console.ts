/**
 * The guest's serial console: a transcript from its first byte, expect/send, and `exec` with
 * unique markers.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
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

/** The console closed (QEMU exited) while something waited on it. */
export class ConsoleClosedError extends Error {
  override readonly name = "ConsoleClosedError";
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
}

/** A shell prompt at the end of the output; busybox's line editor may add a cursor query. */
const DEFAULT_PROMPT = new RegExp("[#$] (\u001b\\[6n)?$");

/** Longest line a Linux tty accepts in canonical mode, less room for vmkit's markers. */
const MAX_COMMAND_BYTES = 4000;
const encoder = new TextEncoder();

interface Waiter {
  regexp: RegExp;
  from: number;
  advance: boolean;
  resolve: (result: ExpectResult) => void;
  reject: (error: unknown) => void;
}

/**
 * A guest serial console over a connection QEMU made to vmkit. Everything the guest printed is
 * kept from the first byte.
 */
export class Console {
  readonly #conn: Deno.Conn;
  readonly #prompt: RegExp;
  readonly #decoder = new TextDecoder();
  readonly #chunks: Uint8Array[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #closed: Promise<void>;
  #text = "";
  #cursor = 0;
  #isClosed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #ready?: Promise<unknown>;
  #execCount = 0;

  /**
   * Made by `launch()`.
   *
   * @param conn The connection QEMU's serial chardev opened.
   * @param options The prompt.
   */
  constructor(conn: Deno.Conn, options: ConsoleOptions = {}) {
    this.#conn = conn;
    this.#prompt = options.prompt ?? DEFAULT_PROMPT;
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
  }

  /**
   * A stream of the console's bytes: everything so far, then what comes, until it closes.
   *
   * @returns A new readable stream; each call gives an independent one.
   */
  stream(): ReadableStream<Uint8Array> {
    let self: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        for (const chunk of this.#chunks) controller.enqueue(chunk.slice());
        if (this.#isClosed) controller.close();
        else this.#streams.add(controller);
      },
      cancel: () => {
        this.#streams.delete(self);
      },
    });
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
   *
   * @param command A shell command (may span lines; at most 4000 bytes once single-quoted).
   * @param options Time limit (default 60 s) and signal; on either, Ctrl-C is sent to the guest.
   * @returns Output and exit status.
   * @throws {RangeError} When the command is longer than a tty line can hold.
   * @throws {ConsoleTimeoutError} When the command does not finish in time.
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
    this.#ready ??= this.#expect(this.#prompt, 0, false, {});
    await withDeadline(
      this.#ready,
      { signal: options.signal, timeout },
      () => new ConsoleTimeoutError(`the shell prompt ${this.#prompt}`, timeout, this.#tail()),
    );
    const token = `${Date.now().toString(36)}${(this.#execCount++).toString(36)}`;
    // The markers are split by quotes in what is typed, so the tty's echo never matches them.
    const begin = `VMKIT_B${token}`;
    const end = `VMKIT_E${token}`;
    const from = this.#text.length;
    const done = this.#expect(
      new RegExp(`${begin}\\r?\\n([^]*?)${end}:(\\d+)\\r?\\n`),
      from,
      true,
      {},
    );
    // One line, so the shell reads all of it before running any: the tty's echo of what was
    // typed then always comes before the begin marker. `command eval` runs the command in this
    // shell (so `cd` and variables persist), and an error the shell would otherwise abort the
    // whole line for (a syntax error, `$((1/0))`, `${x?}`) becomes a non-zero status instead.
    await this.send(
      `printf '%s\\n' VMKIT_B'${token}'; command eval ${
        shellQuote(command)
      }; printf '%s:%s\\n' VMKIT_E'${token}' "$?"\n`,
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
      if (!this.#isClosed) await this.send("\x03").catch(() => {});
      throw error;
    }
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
      waiter = { regexp: new RegExp(source, flags), from, advance, resolve, reject };
    });
    if (!this.#check(waiter)) {
      if (this.#isClosed) {
        waiter.reject(
          new ConsoleClosedError(`Cannot wait for ${String(pattern)}: the console closed`),
        );
      } else {
        this.#waiters.add(waiter);
      }
    }
    return withDeadline(
      found,
      options,
      () => new ConsoleTimeoutError(String(pattern), options.timeout!, this.#tail()),
      () => this.#waiters.delete(waiter),
    );
  }

  #check(waiter: Waiter): boolean {
    waiter.regexp.lastIndex = waiter.from;
    const match = waiter.regexp.exec(this.#text);
    if (match === null) return false;
    const end = match.index + match[0].length;
    const before = this.#text.slice(waiter.advance ? this.#cursor : waiter.from, match.index);
    if (waiter.advance) this.#cursor = Math.max(this.#cursor, end);
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
        for (const controller of this.#streams) controller.enqueue(chunk.slice());
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
    for (const controller of this.#streams) controller.close();
    this.#streams.clear();
    for (const waiter of this.#waiters) {
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
