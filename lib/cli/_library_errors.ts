// vmkit's library errors as the CLI's: a bad value (TypeError, RangeError: a size with an
// unknown unit, an option that does not fit) is wrong usage, exit 2; the rest fail with 1. The
// library's advice names its API (".ssh()", "stateBase"); the CLI's speaks of definitions and
// environment variables instead.

import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/** Library advice, and the same advice in the CLI's words. */
const CLI_WORDS: readonly [string | RegExp, string][] = [
  ["add .ssh() (ssh: true in a definition)", "add ssh: true to its definition"],
  ["add .guestAgent() (agent: true in a definition)", "add agent: true to its definition"],
  ["stop it first, or delete it with { force: true }", "stop it first, or delete it with --force"],
  [", or pass stateBase", ""],
  ["; set one, or pass stateBase", "; set one"],
  [/, or give the VM another monitor \(\.qmpSocket\(\)\)/, ""],
  [
    'add one with .drive(file, { format: "qcow2" })',
    "add one to its definition (disks: - size: 10G)",
  ],
  // A readiness timeout on a silent console, for a disk booted through SeaBIOS.
  ['a UEFI-only disk needs .firmware("uefi")', "a UEFI-only disk needs firmware: uefi"],
];

/**
 * A library message in the CLI's words: its advice about builder calls and options becomes
 * advice about definition fields and environment variables.
 *
 * @param message The library's message.
 * @returns The message for a `vmkit` user.
 */
export function cliWords(message: string): string {
  let text = message;
  for (const [library, cli] of CLI_WORDS) text = text.replace(library, cli);
  return text;
}

/**
 * The CLI error for what a library call threw.
 *
 * @param error What was thrown.
 * @param exitCode The exit status; default 2 for a `TypeError` or `RangeError`, else 1.
 * @returns A `CliError` with the message in the CLI's words (see {@linkcode cliWords}); a
 *   `CliError` as is.
 */
export function cliErrorOf(error: unknown, exitCode?: number): CliError {
  if (error instanceof CliError) return error;
  const message = cliWords(error instanceof Error ? error.message : String(error));
  const usage = error instanceof TypeError || error instanceof RangeError;
  return new CliError(message, exitCode ?? (usage ? EXIT.usage : EXIT.failure), {
    cause: error,
  });
}

/**
 * Runs a library call, turning what it throws into a `CliError` (see {@linkcode cliErrorOf}).
 *
 * @param call The call.
 * @returns What it returns.
 * @throws {CliError} For whatever it throws.
 */
export async function libraryCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw cliErrorOf(error);
  }
}
