// vmkit's library errors as the CLI's: a bad value (TypeError, RangeError: a size with an
// unknown unit, an option that does not fit) is wrong usage, exit 2; the rest fail with 1.

import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/**
 * The CLI error for what a library call threw.
 *
 * @param error What was thrown.
 * @returns A `CliError`: exit 2 for a `TypeError` or `RangeError`, else 1; a `CliError` as is.
 */
export function cliErrorOf(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const usage = error instanceof TypeError || error instanceof RangeError;
  return new CliError(message, usage ? EXIT.usage : EXIT.failure, { cause: error });
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
