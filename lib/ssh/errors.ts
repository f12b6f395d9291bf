/**
 * Errors of the ssh functions that callers catch.
 *
 * @module
 */

import { shellQuote } from "../vm/qemu_opts.ts";

/** Why ssh itself failed, as read from its own messages. */
export type SshFailure =
  /** The host key is unknown, or differs from the known one (`Host key verification failed.`). */
  | "host-key"
  /** The TCP connection failed: refused, reset, or closed before the SSH handshake ended. */
  | "connect"
  /** The server refused every key (`Permission denied (publickey)`). */
  | "auth"
  /** Anything else ssh reported. */
  | "other";

/**
 * The ssh client failed on its own (exit code 255 without a remote exit status): it could not
 * connect, the host key did not match, the key was refused. A remote command that exits with
 * 255 is not this error: it is an ordinary result.
 *
 * @example
 * ```ts
 * import type { SshClient } from "@vmkit/vmkit";
 * declare const ssh: SshClient;
 * import { SshError } from "@vmkit/vmkit";
 * try {
 *   await ssh.exec("true");
 * } catch (error) {
 *   if (error instanceof SshError && error.failure === "host-key") console.log(error.messages);
 * }
 * ```
 */
export class SshError extends Error {
  /** Always `"SshError"`. */
  override readonly name = "SshError";
  /** What kind of failure ssh reported. */
  readonly failure: SshFailure;
  /** What ssh itself printed (its errors, not the remote command's stderr). */
  readonly messages: string;
  /** `ssh` and its arguments, as run. */
  readonly argv: readonly string[];
  /** The ssh client's exit code (255 for its own failures). */
  readonly exitCode: number;

  /**
   * Makes the error from what ssh printed.
   *
   * @param action What was being done, such as `Cannot run "true" over ssh to root@127.0.0.1:22`.
   * @param details Kind of failure, ssh's messages, argv, exit code, and a hint on what to do.
   * @param options The cause, if any.
   */
  constructor(
    action: string,
    details: {
      failure: SshFailure;
      messages: string;
      argv: readonly string[];
      exitCode: number;
      hint?: string;
    },
    options?: ErrorOptions,
  ) {
    const said = details.messages.trim().split("\n").map((line) => line.trim())
      .filter((line) => line !== "").join(" ") ||
      `ssh exited with code ${details.exitCode} and said nothing`;
    super(
      `${action}: ${said}${details.hint === undefined ? "" : `; ${details.hint}`}\nargv: ${
        details.argv.map(shellQuote).join(" ")
      }`,
      options,
    );
    this.failure = details.failure;
    this.messages = details.messages;
    this.argv = details.argv;
    this.exitCode = details.exitCode;
  }
}

/**
 * An ssh wait ran out of time: a remote command did not finish (its ssh client was killed), or
 * the server did not answer. Aborting through a signal rejects with the signal's reason instead.
 *
 * @example
 * ```ts
 * import type { SshClient } from "@vmkit/vmkit";
 * declare const ssh: SshClient;
 * import { SshTimeoutError } from "@vmkit/vmkit";
 * try {
 *   await ssh.exec("sleep 60", { timeout: 1000 });
 * } catch (error) {
 *   if (error instanceof SshTimeoutError) console.log(error.timeout);
 * }
 * ```
 */
export class SshTimeoutError extends Error {
  /** Always `"SshTimeoutError"`. */
  override readonly name = "SshTimeoutError";
  /** What was waited for, such as `"true" to finish`. */
  readonly waitingFor: string;
  /** The time limit, in milliseconds. */
  readonly timeout: number;

  /**
   * Makes the error.
   *
   * @param waitingFor What was waited for, such as `the SSH banner of 127.0.0.1:2222`.
   * @param timeout The time limit, in milliseconds.
   * @param details What happened meanwhile, for the message (the last connection error).
   */
  constructor(waitingFor: string, timeout: number, details?: string) {
    super(
      `Cannot wait for ${waitingFor}: no answer within ${timeout} ms${
        details === undefined ? "" : ` (${details})`
      }`,
    );
    this.waitingFor = waitingFor;
    this.timeout = timeout;
  }
}
