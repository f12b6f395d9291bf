/**
 * Commands that take several instance names (`stop`, `delete`): each in turn, the failures
 * reported as they come.
 *
 * @module
 */

import type { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import { interrupted, interruptedError, interruptible } from "./_interrupts.ts";
import { encoder } from "./_text.ts";

/** Prints a failure the way main does, for commands that go on to the next name. */
function report(error: CliError): void {
  Deno.stderr.writeSync(encoder.encode(`vmkit: ${error.message}\n`));
}

/**
 * Runs `work` for each name in turn; a name that fails is reported and the rest still run. One
 * name fails with its own status; several with 1 when any failed. Ctrl-C stops at once.
 */
export async function eachName(
  names: string[],
  work: (name: string, signal: AbortSignal) => Promise<void>,
  interruptedWhat: (name: string) => string,
): Promise<void> {
  const failures: CliError[] = [];
  await interruptible(async (signal) => {
    for (const name of names) {
      try {
        await work(name, signal);
      } catch (error) {
        if (interrupted(signal)) throw interruptedError(signal, interruptedWhat(name));
        const failure = cliErrorOf(error);
        if (names.length === 1) throw failure;
        report(failure);
        failures.push(failure);
      }
    }
  });
  if (failures.length > 0) Deno.exitCode = EXIT.failure;
}
