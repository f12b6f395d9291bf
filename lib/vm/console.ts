/**
 * The guest's serial console: a transcript from its first byte, expect/send, and `exec` with
 * unique markers. The transcript and its waits are in `_console_transcript.ts`, what `exec`
 * types into the shell in `_console_shell.ts`, the types and errors in `console_types.ts` and
 * `console_errors.ts`, re-exported here.
 *
 * @module
 */

import { checkTimeout, settledWithin, type WaitOptions, withDeadline } from "../_deadline.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { ConsoleClosedError, ConsoleTimeoutError, describeExit } from "./console_errors.ts";
import type { ConsoleExit, ConsoleOptions, ExecResult, ExpectResult } from "./console_types.ts";
import { Transcript } from "./_console_transcript.ts";
import {
  checkCommand,
  commandLines,
  DEFAULT_PROMPT,
  execMarkers,
  execResult,
  execToken,
} from "./_console_shell.ts";

export { ConsoleClosedError, ConsoleTimeoutError } from "./console_errors.ts";
export type { ConsoleExit, ConsoleOptions, ExecResult, ExpectResult } from "./console_types.ts";

const encoder = new TextEncoder();

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
  readonly #chunks: Uint8Array[] = [];
  readonly #transcript: Transcript;
  readonly #streams = new Set<StreamReader>();
  readonly #closed: Promise<void>;
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
    this.#transcript = new Transcript(() => this.#alive.hold());
    this.#prompt = options.prompt ?? DEFAULT_PROMPT;
    this.#exited = options.exited;
    this.#checkRunnable = options.checkRunnable;
    this.#closed = this.#readLoop();
  }

  /** Everything the guest printed so far, decoded as UTF-8. */
  get transcript(): string {
    return this.#transcript.text;
  }

  /**
   * How long the guest has printed nothing, in milliseconds: since its last byte, or since the
   * console opened when it has printed nothing yet. A wait that times out on a console silent for
   * most of it points at a guest that hangs rather than one that is slow.
   */
  get silentMs(): number {
    return this.#transcript.silentMs;
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
    this.#promptFrom = this.#transcript.text.length;
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
    return this.#transcript.wait(pattern, this.#transcript.cursor, true, options);
  }

  /**
   * Waits until the console has shown `pattern`, anywhere since the guest started, without
   * moving {@linkcode Console.expect}'s place: for watching (a ready line, a panic) beside the
   * commands a script runs.
   *
   * @param pattern Text or a regular expression; it must match within one line.
   * @param options Time limit, signal, and whether the wait keeps the script alive (default
   *   true; false for a watch left running in the background).
   * @returns The match and the text before it.
   * @throws {ConsoleTimeoutError} When it does not show in time.
   * @throws {ConsoleClosedError} When the console closes first.
   */
  seen(
    pattern: string | RegExp,
    options: WaitOptions & { keepAlive?: boolean } = {},
  ): Promise<ExpectResult> {
    // Each new chunk is searched with the 4 KiB before it, not the whole transcript again.
    return this.#transcript.wait(pattern, 0, false, { ...options, window: 4096 });
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
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * const { output, exitCode } = await guest.console.exec("uname -m");
   * ```
   */
  exec(command: string, options: WaitOptions = {}): Promise<ExecResult> {
    try {
      checkCommand(command);
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
    await this.#awaitPrompt(what, timeout, options.signal);
    const token = execToken(this.#execCount++);
    const markers = execMarkers(token);
    const from = this.#transcript.text.length;
    // Typed after this point, so the wait below sees everything the command prints.
    await this.send(commandLines(command, token).join("")).catch(async (error) => {
      if (error instanceof ConsoleClosedError) {
        throw await this.#closedError(
          `${what}: the console closed before the command started, and`,
        );
      }
      throw error;
    });
    const done = this.#transcript.wait(markers.done, from, true, {});
    const remaining = Math.max(0, timeout - (performance.now() - started));
    try {
      const result = await withDeadline(
        done,
        { signal: options.signal, timeout: remaining },
        () =>
          new ConsoleTimeoutError(
            `command ${JSON.stringify(command)} to finish`,
            timeout,
            this.#transcript.tail,
          ),
      );
      return execResult(result.groups);
    } catch (error) {
      if (error instanceof ConsoleClosedError) {
        const begun = markers.started.test(this.#transcript.text.slice(from));
        throw await this.#closedError(
          begun
            ? `${what}: the guest's shell ended before the command finished, and`
            : `${what}: the console closed before the command started, and`,
        );
      }
      if (!this.#isClosed) await this.send("\x03").catch(() => {});
      throw error;
    }
  }

  /**
   * Waits for the shell prompt once (and, while the guest resets, for the reset to be done).
   *
   * @throws {ConsoleTimeoutError} When the prompt does not come within `timeout`.
   * @throws {ConsoleClosedError} When the console closes first; `what` starts the message.
   */
  async #awaitPrompt(what: string, timeout: number, signal?: AbortSignal): Promise<void> {
    const ready = (async () => {
      while (this.#hold !== undefined) await this.#hold;
      return await (this.#ready ??= this.#transcript.wait(
        this.#prompt,
        this.#promptFrom,
        false,
        {},
      ));
    })();
    await withDeadline(
      ready,
      { signal, timeout },
      () =>
        new ConsoleTimeoutError(`the shell prompt ${this.#prompt}`, timeout, this.#transcript.tail),
    ).catch(async (error) => {
      if (error instanceof ConsoleClosedError) {
        throw await this.#closedError(`${what}: the shell prompt never came, and`);
      }
      throw error;
    });
  }

  /** The error for a console that closed: says how QEMU ended, waiting up to 1 s to know. */
  async #closedError(prefix: string): Promise<ConsoleClosedError> {
    const exit = this.#exited === undefined ? undefined : await settledWithin(this.#exited, 1000);
    return new ConsoleClosedError(
      `${prefix} ${describeExit(exit)}`,
      exit === undefined ? {} : { exit },
    );
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const chunk = buffer.slice(0, n);
        this.#chunks.push(chunk);
        for (const reader of this.#streams) {
          reader.controller.enqueue(chunk.slice());
          reader.release?.();
          reader.release = undefined;
        }
        this.#transcript.append(chunk);
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
    this.#transcript.close();
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
