/**
 * A bounded queue of QMP events for one listener.
 *
 * @module
 */

import { QmpEventOverflowError } from "./errors.ts";

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  /** Event name, such as `"STOP"` or `"DEVICE_DELETED"`. */
  event: string;
  /** Event data, when the event has any. */
  data?: Record<string, unknown>;
  /** When QEMU emitted it. */
  timestamp: { seconds: number; microseconds: number };
}

/**
 * What a listener does when its queue is full and another event arrives:
 * - `"drop-oldest"` (default): discard the oldest queued event, keep the newest;
 * - `"drop-newest"`: discard the arriving event;
 * - `"error"`: end the stream with a {@linkcode QmpEventOverflowError}.
 *
 * In every case replies and other listeners are unaffected, and `dropped` counts the loss.
 */
export type QmpOverflowPolicy = "drop-oldest" | "drop-newest" | "error";

/** Options of an event stream. */
export interface QmpEventStreamOptions {
  /** Only these events; default all. */
  names?: readonly string[];
  /** Ends the stream: a pending `next()` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Queue capacity. Default 1024. */
  capacity?: number;
  /** What to do when the queue is full. Default `"drop-oldest"`. */
  overflow?: QmpOverflowPolicy;
  /**
   * Whether a pending `next()` keeps the Deno process alive, as a pending command does. Default
   * true; false for a listener that only watches in the background, so a script whose work is
   * done still ends.
   */
  keepAlive?: boolean;
}

interface Waiter {
  resolve: (result: IteratorResult<QmpEvent>) => void;
  reject: (error: unknown) => void;
}

/**
 * The events one listener receives, as an async iterator with its own bounded queue, so a slow
 * listener never delays command replies or other listeners.
 */
export class QmpEventStream implements AsyncIterableIterator<QmpEvent> {
  readonly #names?: ReadonlySet<string>;
  readonly #capacity: number;
  readonly #overflow: QmpOverflowPolicy;
  readonly #onClose: (stream: QmpEventStream) => void;
  readonly #signal?: AbortSignal;
  readonly #hold?: () => () => void;
  #release?: () => void;
  #queue: QmpEvent[] = [];
  #head = 0;
  #waiter?: Waiter;
  #ended = false;
  #error?: unknown;
  #dropped = 0;

  /**
   * Made by `QmpClient.events()`.
   *
   * @param options Names, signal, capacity and overflow policy.
   * @param onClose Called once when the stream ends, to unsubscribe it.
   * @param hold Keeps the connection referenced while `next()` waits; returns the release.
   */
  constructor(
    options: QmpEventStreamOptions,
    onClose: (stream: QmpEventStream) => void,
    hold?: () => () => void,
  ) {
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot listen to QMP events with capacity ${capacity}: use 1 or more`);
    }
    const overflow = options.overflow ?? "drop-oldest";
    if (!["drop-oldest", "drop-newest", "error"].includes(overflow)) {
      throw new TypeError(
        `Cannot listen to QMP events with overflow ${
          JSON.stringify(overflow)
        }: use "drop-oldest", "drop-newest" or "error"`,
      );
    }
    if (options.names !== undefined) this.#names = new Set(options.names);
    this.#capacity = capacity;
    this.#overflow = overflow;
    this.#onClose = onClose;
    if (options.keepAlive !== false) this.#hold = hold;
    this.#signal = options.signal;
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) {
        queueMicrotask(() => this.#end(this.#signal!.reason));
      } else {
        this.#signal.addEventListener("abort", () => this.#end(this.#signal!.reason), {
          once: true,
        });
      }
    }
  }

  /** How many events this listener lost to its overflow policy. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the stream wants this event. */
  accepts(event: QmpEvent): boolean {
    return !this.#ended && (this.#names === undefined || this.#names.has(event.event));
  }

  /**
   * Delivers an event (called by the client).
   *
   * @param event The event.
   */
  push(event: QmpEvent): void {
    if (!this.accepts(event)) return;
    const waiter = this.#takeWaiter();
    if (waiter !== undefined) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    if (this.#queue.length - this.#head >= this.#capacity) {
      this.#dropped++;
      if (this.#overflow === "drop-newest") return;
      if (this.#overflow === "error") {
        this.#end(new QmpEventOverflowError(this.#capacity));
        return;
      }
      this.#head++;
    }
    this.#queue.push(event);
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Ends the stream after the queued events (called by the client on close).
   *
   * @param error When given, `next()` rejects with it once the queue is drained.
   */
  end(error?: unknown): void {
    this.#end(error);
  }

  #end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#onClose(this);
    const waiter = this.#takeWaiter();
    if (waiter === undefined) return;
    if (error === undefined) waiter.resolve({ value: undefined, done: true });
    else waiter.reject(error);
  }

  /**
   * Waits for the next event.
   *
   * @returns The next event, or done when the stream has ended.
   */
  next(): Promise<IteratorResult<QmpEvent>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined as unknown as QmpEvent;
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#waiter !== undefined) {
      return Promise.reject(new TypeError("Cannot call next() while another next() is pending"));
    }
    this.#release = this.#hold?.();
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #takeWaiter(): Waiter | undefined {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    this.#release?.();
    this.#release = undefined;
    return waiter;
  }

  /** Stops listening. @returns Done. */
  return(): Promise<IteratorResult<QmpEvent>> {
    this.#queue = [];
    this.#head = 0;
    this.#end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * The stream itself, for `for await`.
   *
   * @returns This stream.
   */
  [Symbol.asyncIterator](): QmpEventStream {
    return this;
  }
}
