/**
 * Opening instances for the instance commands: the instance library, loaded when a command uses
 * it, and what its calls throw in the CLI's words.
 *
 * @module
 */

import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import type { Instance } from "../../../instance/mod.ts";
import { checkInstanceName } from "../../../instance/state_dir.ts";

/**
 * The instance library (with QEMU, QMP, agent and ssh clients), loaded by the commands that use
 * it, so `vmkit --help` and `vmkit list` do not wait for it.
 */
export const instances = (): Promise<typeof import("../../../instance/mod.ts")> =>
  import("../../../instance/mod.ts");

/** The saved definition of an instance started from a file, in its state directory. */
export const DEFINITION_FILE = "definition.json";

/** Runs a library call, turning what it throws into a CliError (in the CLI's words). */
export async function library<T>(call: () => Promise<T>, exitCode?: number): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw cliErrorOf(error, exitCode);
  }
}

/** Checks an instance name as a usage error. */
export function checkName(name: string): string {
  try {
    return checkInstanceName(name);
  } catch (error) {
    throw cliErrorOf(error, EXIT.usage);
  }
}

/**
 * Opens an existing instance. A missing one is a failure (1) naming where instances were looked
 * for; only `start` says how to make one.
 */
export async function open(name: string): Promise<Instance> {
  checkName(name);
  const { openInstance } = await instances();
  try {
    return await openInstance(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `${error.message}; vmkit list shows the instances there (XDG_STATE_HOME picks another place)`,
        EXIT.failure,
        { cause: error },
      );
    }
    throw cliErrorOf(error);
  }
}
