/**
 * `vmkit run FILE [-- CMD...]`: boots a VM definition in the foreground. Without CMD the console
 * is on the terminal until the guest powers off; with CMD, vmkit runs it through the guest agent
 * (`agent: true`), else ssh (`ssh:`), else the tiny guest's job channel, and exits with its
 * status. Disks the definition makes live in a temporary directory removed at exit; Ctrl-C,
 * SIGTERM and SIGHUP shut the VM down and exit 130, 143 and 129. What it does is in
 * `../_run_definition.ts`, loaded when it runs.
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
which), 125 when it could not run it, 130 on Ctrl-C (143 on SIGTERM, 129 when the terminal
closes: the VM is shut down first in each case). Disks the definition makes (overlayOf,
size) are made in a temporary directory and removed at exit: use vmkit start for a VM that
keeps them.`;

/** run's own options that take a value, and those that do not. */
const VALUE_OPTIONS = ["--set", "--timeout"];
const SWITCHES = ["-i", "--interactive", "-h", "--help"];

/** A word as a shell reads it back. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=+@%,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The message for a command given without `--` (`vmkit run vm.yaml uname -a`): the words,
 * and the line to type instead. Options of docker's or ssh's (`-it`) before the command are left
 * out of that line: vmkit run does not take them.
 *
 * @param file The definition, as typed.
 * @param words The words after it that are not vmkit run's options.
 * @returns "Cannot tell the command from the definition: ...".
 */
export function misplacedCommandMessage(file: string, words: readonly string[]): string {
  const start = words.findIndex((word) => !word.startsWith("-"));
  const command = start < 0 ? ["CMD..."] : words.slice(start).map(shellWord);
  return `Cannot tell the command from the definition: ${
    JSON.stringify(words)
  } before --; put the command after -- (vmkit run's own options, --set, --timeout and -i, go before it), as in: vmkit run ${
    shellWord(file)
  } -- ${command.join(" ")}`;
}

/**
 * The definition and the words after it before `--` that are not vmkit run's own options, from
 * the words of the whole command line (`["run", "vm.yaml", "uname", "-a"]`).
 */
function wordsAfterFile(raw: readonly string[]): { file?: string; words: string[] } {
  const at = raw.indexOf("run");
  let file: string | undefined;
  const words: string[] = [];
  for (let i = at + 1; i < raw.length && raw[i] !== "--"; i++) {
    const word = raw[i];
    if (VALUE_OPTIONS.includes(word)) {
      i++;
      continue;
    }
    if (SWITCHES.includes(word) || VALUE_OPTIONS.some((o) => word.startsWith(`${o}=`))) continue;
    if (file === undefined) {
      if (!word.startsWith("-")) file = word;
      continue;
    }
    words.push(word);
  }
  return { file, words };
}

/**
 * commander's "unknown option" for a command typed without `--` (`vmkit run vm.yaml uname -a`,
 * `vmkit run vm.yaml -it sh`) as the hint to put it after `--`; other errors as they are.
 */
function usageError(text: string, command: Command): string {
  const unknown = /^error: unknown option '([^']+)'/.exec(text)?.[1];
  if (unknown === undefined) return text;
  let root = command;
  while (root.parent !== null) root = root.parent;
  const found = (root as unknown as { rawArgs?: unknown }).rawArgs;
  const { file, words } = wordsAfterFile(Array.isArray(found) ? found : []);
  const short = /^-[^-]$/.test(unknown);
  const fromWords = words.some((word) =>
    word === unknown || word.startsWith(`${unknown}=`) ||
    (short && /^-[^-]/.test(word) && word.includes(unknown[1]))
  );
  if (file === undefined || !fromWords || words.every((word) => word.startsWith("-"))) return text;
  return `vmkit: ${misplacedCommandMessage(file, words)}\n`;
}

/**
 * Adds `vmkit run`.
 *
 * @param program The `vmkit` program.
 */
export function registerRun(program: Command): void {
  const run = program.command("run");
  run
    .summary("boot a VM definition in the foreground; run a command in it")
    .description(
      "Boot a VM definition (YAML or JSON) in the foreground: its console on the terminal, or CMD run in the guest with vmkit exiting with its status. Ctrl-C shuts the VM down; nothing is left behind.",
    )
    .argument("<file>", "the VM definition")
    .argument("[command...]", "the command to run in the guest, after --")
    .option(
      "--set <key=value>",
      "override a field, such as memory=2G (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--timeout <seconds>", "limit for CMD (the whole job for a tiny guest)", timeoutFlag)
    .option("-i, --interactive", "pass stdin to CMD (agent and ssh)")
    .addHelpText("after", EXAMPLES)
    .configureOutput({ outputError: (text, write) => write(usageError(text, run)) })
    .action(async (file: string, operands: string[], flags: RunFlags, command: Command) => {
      const { runDefinition } = await import("../_run_definition.ts");
      await runDefinition(file, operands, flags, command);
    });
}
