/**
 * `vmkit run FILE [-- CMD...]`: boots a VM definition in the foreground. Without CMD the console
 * is on the terminal until the guest powers off; with CMD, vmkit runs it through the guest agent
 * (`agent: true`), else ssh (`ssh:`), else the tiny guest's job channel, and exits with its
 * status. Disks the definition makes live in a temporary directory removed at exit; Ctrl-C
 * shuts the VM down and exits 130. What it does is in `../_run_definition.ts`, loaded when it
 * runs.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { timeoutFlag } from "../_flags.ts";
import type { RunFlags } from "../_run_definition.ts";

const EXAMPLES = `
Examples:
  vmkit run vm.yaml                              # the console here; Ctrl-] stops the VM
  vmkit run recipes/vm/tiny.yaml -- uname -a     # through the guest agent
  vmkit run vm.yaml --set memory=2G -- sh -c 'make -j2 && make test'
  tar c src | vmkit run vm.yaml -i -- tar x -C /tmp

CMD runs through the guest agent when the definition has agent: true, else over ssh when it has
ssh:, else as the tiny guest's only job (guest: tiny, or a kernel booting vmkit's init). One
word is a shell command line; several words are a program and its arguments. vmkit exits with
CMD's status (128+N when signal N killed it; 255 for a signal over ssh, which does not say
which), 125 when it could not run it, 130 on Ctrl-C. Disks the definition makes (overlayOf,
size) are made in a temporary directory and removed at exit: use vmkit start for a VM that
keeps them.`;

/**
 * Adds `vmkit run`.
 *
 * @param program The `vmkit` program.
 */
export function registerRun(program: Command): void {
  program.command("run")
    .summary("boot a VM definition in the foreground; run a command in it")
    .description(
      "Boot a VM definition (YAML or JSON) in the foreground: its console on the terminal, or CMD run in the guest with vmkit exiting with its status. Ctrl-C shuts the VM down; nothing is left behind.",
    )
    .argument("<file>", "the VM definition")
    .argument("[command...]", "the command to run in the guest, after --")
    .option(
      "--set <key=value>",
      "override a field, such as memory=2G (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--timeout <seconds>", "limit for CMD (the whole job for a tiny guest)", timeoutFlag)
    .option("-i, --interactive", "pass stdin to CMD (agent and ssh)")
    .addHelpText("after", EXAMPLES)
    .action(async (file: string, operands: string[], flags: RunFlags, command: Command) => {
      const { runDefinition } = await import("../_run_definition.ts");
      await runDefinition(file, operands, flags, command);
    });
}
