/**
 * Errors of the guest agent client.
 *
 * @module
 */

/** The command a guest agent error refers to, as it was sent. */
export interface GuestAgentCommand {
  /** Command name, such as `"guest-exec"`. */
  execute: string;
  /** Arguments, if any. */
  arguments?: Record<string, unknown>;
}

/**
 * The guest agent answered a command with an error.
 *
 * @example
 * ```ts
 * import type { Vm } from "@vmkit/vmkit";
 * declare const guest: Vm;
 * import { GuestAgentError } from "@vmkit/vmkit";
 * try {
 *   await guest.agent.execute("guest-no-such-command");
 * } catch (error) {
 *   if (error instanceof GuestAgentError) console.log(error.errorClass); // "CommandNotFound"
 * }
 * ```
 */
export class GuestAgentError extends Error {
  /** Always `"GuestAgentError"`. */
  override readonly name = "GuestAgentError";
  /** The agent's error class, such as `"GenericError"` or `"CommandNotFound"`. */
  readonly errorClass: string;
  /** The agent's description of the error. */
  readonly desc: string;
  /** The command that failed. */
  readonly command: GuestAgentCommand;

  /**
   * Makes the error.
   *
   * @param errorClass The agent's error class.
   * @param desc The agent's description.
   * @param command The command sent.
   */
  constructor(errorClass: string, desc: string, command: GuestAgentCommand) {
    super(`Guest agent command "${command.execute}" failed: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
  }
}

/** A wait on the guest agent ran out of time. */
export class GuestAgentTimeoutError extends Error {
  /** Always `"GuestAgentTimeoutError"`. */
  override readonly name = "GuestAgentTimeoutError";
  /** What was waited for: `"the agent's port"`, a command name, a process. */
  readonly waitingFor: string;
  /** The time limit in milliseconds. */
  readonly timeout: number;

  /**
   * Makes the error.
   *
   * @param waitingFor What was waited for.
   * @param timeout The limit in milliseconds.
   * @param detail What is known of why, appended to the message.
   * @param options The cause.
   */
  constructor(
    waitingFor: string,
    timeout: number,
    detail = "",
    options: { cause?: unknown } = {},
  ) {
    super(
      `Timed out after ${Math.round(timeout)} ms waiting for ${waitingFor}${
        detail ? `: ${detail}` : ""
      }`,
      options,
    );
    this.waitingFor = waitingFor;
    this.timeout = timeout;
  }
}

/**
 * The guest agent cannot be reached any more: QEMU exited, the guest panicked, or the
 * connection to QEMU closed. Every pending command and wait fails with it at once.
 */
export class GuestAgentUnavailableError extends Error {
  /** Always `"GuestAgentUnavailableError"`. */
  override readonly name = "GuestAgentUnavailableError";
  /** Why, such as `"QEMU exited with code 0"` or `"the guest panicked"`. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param action What could not be done, such as `run "uname" in the guest`.
   * @param reason Why.
   * @param options The underlying cause.
   */
  constructor(action: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot ${action}: ${reason}`, options);
    this.reason = reason;
  }
}
