// What the guest printed on its console, decoded, and the waits for a pattern in it: each wait
// looks from a position in the text, and `expect`'s waits move a cursor past what they match.

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import { ConsoleClosedError, ConsoleTimeoutError } from "./console_errors.ts";
import type { ExpectResult } from "./console_types.ts";

interface Waiter {
  regexp: RegExp;
  from: number;
  /** For a wait that only watches: look back at most this many characters on each new chunk. */
  window?: number;
  advance: boolean;
  resolve: (result: ExpectResult) => void;
  reject: (error: unknown) => void;
  release: () => void;
}

/** The console's text and the pattern waits on it. */
export class Transcript {
  readonly #decoder = new TextDecoder();
  readonly #waiters = new Set<Waiter>();
  /** Keeps the console's connection alive until the returned function is called. */
  readonly #hold: () => () => void;
  #text = "";
  #cursor = 0;
  #isClosed = false;
  /** `performance.now()` of the last byte, or of the transcript's start before any. */
  #lastAt = performance.now();

  /**
   * @param hold Keeps the console's connection alive while a wait is pending; returns its
   *   release.
   */
  constructor(hold: () => () => void) {
    this.#hold = hold;
  }

  /** Everything decoded so far. */
  get text(): string {
    return this.#text;
  }

  /** Where `expect` looks next: the end of its last match. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Milliseconds since the guest last printed (since the console opened, before it printed). */
  get silentMs(): number {
    return performance.now() - this.#lastAt;
  }

  /** The last 2000 characters, for a timeout's message. */
  get tail(): string {
    return this.#text.slice(-2000);
  }

  /**
   * Adds bytes the guest printed, and settles the waits they match.
   *
   * @param chunk The bytes, as read.
   */
  append(chunk: Uint8Array): void {
    this.#lastAt = performance.now();
    this.#text += this.#decoder.decode(chunk, { stream: true });
    for (const waiter of [...this.#waiters]) {
      if (this.#check(waiter)) this.#waiters.delete(waiter);
    }
  }

  /** The console closed: every pending wait fails, and so does every later one that finds nothing. */
  close(): void {
    this.#isClosed = true;
    for (const waiter of this.#waiters) {
      waiter.release();
      waiter.reject(new ConsoleClosedError(`Cannot wait for ${waiter.regexp}: the console closed`));
    }
    this.#waiters.clear();
  }

  /**
   * Waits until the text shows `pattern` at or after `from`.
   *
   * @param pattern Text or a regular expression.
   * @param from Where to look from.
   * @param advance Whether to move the cursor past the match (`before` then starts at the
   *   cursor rather than at `from`).
   * @param options Time limit and signal.
   * @returns The match and the text before it.
   * @throws {ConsoleTimeoutError} When it does not show in time.
   * @throws {ConsoleClosedError} When the console closes first.
   */
  wait(
    pattern: string | RegExp,
    from: number,
    advance: boolean,
    options: WaitOptions & { window?: number; keepAlive?: boolean },
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
        window: options.window,
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
        if (options.keepAlive !== false) waiter.release = this.#hold();
        this.#waiters.add(waiter);
      }
    }
    return withDeadline(
      found,
      options,
      () => new ConsoleTimeoutError(String(pattern), options.timeout!, this.tail),
      () => {
        waiter.release();
        this.#waiters.delete(waiter);
      },
    );
  }

  #check(waiter: Waiter): boolean {
    waiter.regexp.lastIndex = waiter.from;
    const match = waiter.regexp.exec(this.#text);
    if (match === null) {
      if (waiter.window !== undefined) {
        waiter.from = Math.max(waiter.from, this.#text.length - waiter.window);
      }
      return false;
    }
    const end = match.index + match[0].length;
    const before = this.#text.slice(waiter.advance ? this.#cursor : waiter.from, match.index);
    if (waiter.advance) this.#cursor = Math.max(this.#cursor, end);
    waiter.release();
    waiter.resolve({ match: match[0], groups: match.slice(1), before });
    return true;
  }
}
