/**
 * The `vmkit` command: every subcommand on one commander program, with vmkit's exit statuses.
 *
 * @module
 */

import { Command, CommanderError } from "npm:commander@^14.0.3";
import { CliError } from "./errors.ts";
import { DefinitionError } from "./definition/definition_error.ts";
import { EXIT } from "./exit_codes.ts";
import { registerValidate } from "./commands/validate.ts";
import { registerShow } from "./commands/show.ts";
import { registerRun } from "./commands/run.ts";
import { registerKernel } from "./commands/kernel.ts";
import { registerInstanceCommands } from "./commands/instance.ts";
import { registerImg } from "./commands/img.ts";
import { registerSeed } from "./commands/seed.ts";
import { registerBinfmt } from "./commands/binfmt.ts";
import { registerCompletions } from "./commands/completions.ts";

/** vmkit's version, as `vmkit --version` prints it. */
export const VERSION = "0.1.0";

/** The exit statuses, as `vmkit --help` lists them. */
const EXIT_HELP = `
Exit status:
  0    done
  1    the operation failed (QEMU, the guest, a file, a time limit)
  2    wrong usage: an unknown flag, a missing argument, an invalid VM definition
  125  run/kernel/exec could not run the guest command (QEMU failed, the guest panicked...);
       otherwise they exit with the guest command's status (128+N when signal N killed it)
  130  interrupted (Ctrl-C): run and kernel shut their VM down first; start stops a QEMU
       that is not up yet, and leaves a started instance running (it says how to stop it)
  129, 143  the terminal closed (SIGHUP), SIGTERM: stopped as for Ctrl-C
  141  the reader of stdout went away (| head); the VM was shut down`;

/**
 * Makes the `vmkit` program. Colours are off: commander would read `NO_COLOR`/`FORCE_COLOR`,
 * which needs `--allow-env` for them.
 *
 * @returns The program, ready for `parseAsync(args, { from: "user" })`.
 */
export function vmkitProgram(): Command {
  const program = new Command("vmkit")
    .description("Define, boot and drive QEMU virtual machines")
    .version(VERSION)
    .configureOutput({ getOutHasColors: () => false, getErrHasColors: () => false })
    .exitOverride()
    // Options after a command are that command's: `vmkit seed out.iso -V vendor.yaml` is
    // seed's --vendor-data, not vmkit's --version.
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .addHelpText("after", EXIT_HELP);
  registerRun(program);
  registerKernel(program);
  registerInstanceCommands(program);
  registerValidate(program);
  registerShow(program);
  registerImg(program);
  registerSeed(program);
  registerBinfmt(program);
  registerCompletions(program);
  return program;
}

/**
 * vmkit's last line; a terminal that has closed (SIGHUP) takes nothing, and the exit status still
 * says what happened.
 */
function printError(text: string): void {
  try {
    console.error(text);
  } catch {
    // stderr was a terminal that has gone (EIO): nobody is left to read it.
  }
}

/**
 * Runs `vmkit` with these arguments: prints what went wrong as `vmkit: MESSAGE` on stderr.
 *
 * @param args The arguments after `vmkit`.
 * @returns The exit status (see `EXIT`).
 */
export async function main(args: readonly string[]): Promise<number> {
  const program = vmkitProgram();
  try {
    await program.parseAsync([...args], { from: "user" });
    return typeof Deno.exitCode === "number" ? Deno.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; commander has printed the message already.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof DefinitionError) {
      // One line per problem, each starting with its file:line:column, as compilers print.
      printError(error.message);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      printError(`vmkit: ${error.message}`);
      return error.exitCode;
    }
    printError(`vmkit: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failure;
  }
}
