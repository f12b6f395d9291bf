/**
 * Errors of the QMP client.
 *
 * @module
 */

/** The command a QMP error refers to, as it was sent. */
export interface QmpCommand {
  /** Command name. */
  execute: string;
  /** Arguments, if any. */
  arguments?: Record<string, unknown>;
}

/**
 * QEMU answered a command with an error.
 *
 * @example
 * ```ts
 * import type { QmpClient } from "@vmkit/vmkit";
 * declare const qmp: QmpClient;
 * import { QmpError } from "@vmkit/vmkit";
 * try {
 *   await qmp.execute("no-such-command");
 * } catch (error) {
 *   if (error instanceof QmpError) console.log(error.errorClass); // "CommandNotFound"
 * }
 * ```
 */
export class QmpError extends Error {
  /** Always `"QmpError"`. */
  override readonly name = "QmpError";
  /** QEMU's error class, such as `"GenericError"` or `"CommandNotFound"`. */
  readonly errorClass: string;
  /** QEMU's description of the error. */
  readonly desc: string;
  /** The command that failed. */
  readonly command: QmpCommand;

  /**
   * Makes the error.
   *
   * @param errorClass QEMU's error class.
   * @param desc QEMU's description.
   * @param command The command sent.
   */
  constructor(errorClass: string, desc: string, command: QmpCommand) {
    super(`QMP command "${command.execute}" failed: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
  }
}

/** A wait on QMP ran out of time: no reply, greeting or event came in time. */
export class QmpTimeoutError extends Error {
  /** Always `"QmpTimeoutError"`. */
  override readonly name = "QmpTimeoutError";
  /** What was waited for: a command name, `"greeting"` or an event name. */
  readonly waitingFor: string;
  /** The time limit in milliseconds. */
  readonly timeout: number;

  /**
   * Makes the error.
   *
   * @param waitingFor What was waited for.
   * @param timeout The limit in milliseconds.
   */
  constructor(waitingFor: string, timeout: number) {
    super(`Timed out after ${Math.round(timeout)} ms waiting for QMP ${waitingFor}`);
    this.waitingFor = waitingFor;
    this.timeout = timeout;
  }
}

/** The QMP connection closed or failed; pending commands and waits reject with this. */
export class QmpDisconnectedError extends Error {
  /** Always `"QmpDisconnectedError"`. */
  override readonly name = "QmpDisconnectedError";
  /** The command that was pending, when the error is a command's. */
  readonly command?: QmpCommand;

  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param options The underlying cause (socket error, EOF), and the pending command.
   */
  constructor(message: string, options: { cause?: unknown; command?: QmpCommand } = {}) {
    super(message, { cause: options.cause });
    if (options.command !== undefined) this.command = options.command;
  }
}

/** The peer broke the protocol: no greeting, a bad capabilities reply, or a line over the limit. */
export class QmpProtocolError extends Error {
  /** Always `"QmpProtocolError"`. */
  override readonly name = "QmpProtocolError";
}

/** An event listener's queue overflowed and its overflow policy is `"error"`. */
export class QmpEventOverflowError extends Error {
  /** Always `"QmpEventOverflowError"`. */
  override readonly name = "QmpEventOverflowError";
  /** The queue's capacity. */
  readonly capacity: number;

  /**
   * Makes the error.
   *
   * @param capacity The queue's capacity.
   */
  constructor(capacity: number) {
    super(`QMP event listener fell more than ${capacity} events behind`);
    this.capacity = capacity;
  }
}
