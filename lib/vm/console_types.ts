/**
 * The plain types of the guest's serial console: how a closed console says QEMU ended, what
 * `expect` and `exec` return, and the console's options.
 *
 * @module
 */

/** How QEMU ended, as a closed console reports it. */
export interface ConsoleExit {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that killed QEMU, if any. */
  signal: Deno.Signal | null;
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
