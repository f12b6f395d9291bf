// The guest command's words on vmkit's command line. Where `--` was: commander hands a command
// its operands with the words after `--` appended and the `--` dropped, but keeps the words it
// parsed (rawArgs, missing from its typings), so counting from the end finds them. One rule for
// every command that runs one: one word is a shell line, several are an argv.

import type { Command } from "npm:commander@^14.0.3";
import { shellQuote } from "../vm/qemu_opts.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/**
 * Splits a command's operands at `--`.
 *
 * @param command The command whose action runs.
 * @param operands Its operands, as commander gives them.
 * @returns The operands before `--` and those after it.
 */
export function splitAtDashes(
  command: Command,
  operands: readonly string[],
): { before: string[]; after: string[] } {
  let root = command;
  while (root.parent !== null) root = root.parent;
  const found = (root as unknown as { rawArgs?: unknown }).rawArgs;
  const raw: string[] = Array.isArray(found) ? found : [];
  const dashes = raw.indexOf("--");
  const count = dashes < 0 ? 0 : Math.min(operands.length, raw.length - dashes - 1);
  return {
    before: operands.slice(0, operands.length - count),
    after: operands.slice(operands.length - count),
  };
}

/**
 * The guest command as the guest gets it, the same for every command that runs one: one word is
 * a shell command line (`sh -c`, or the remote shell over ssh), several words are a program and
 * its arguments.
 *
 * @param words The command's words.
 * @returns The line, or the argv.
 */
export function shellLineOrArgv(words: readonly string[]): string | string[] {
  return words.length === 1 ? words[0] : [...words];
}

/**
 * The guest command of a command that runs one in an instance (`vmkit exec NAME CMD...`), whose
 * options stop at NAME (commander's `passThroughOptions()`): everything after NAME is the guest
 * command, with or without `--` before it, as `docker exec` takes it. Options written after NAME
 * and before `--` (`vmkit exec web -i -- cat`) are the command's own, and are read here; a word
 * there that is no option of the command is wrong usage, with the line that would work.
 *
 * @param command The command whose action runs (its options are set here).
 * @param words The words after NAME, as commander gives them.
 * @param usage How the command line starts, for the hint: `vmkit exec web`.
 * @returns The guest command's words.
 * @throws {CliError} (usage) For an unknown option before the guest command.
 */
export function guestCommandWords(
  command: Command,
  words: readonly string[],
  usage: string,
): string[] {
  if (words.length === 0 || !words[0].startsWith("-")) return [...words];
  const dashes = words.indexOf("--");
  const own = dashes < 0 ? [...words] : words.slice(0, dashes);
  const rest = dashes < 0 ? [] : words.slice(dashes + 1);
  const { operands, unknown } = command.parseOptions(own);
  if (unknown[0] === "-h" || unknown[0] === "--help") command.help();
  if (unknown.length > 0 || (dashes >= 0 && operands.length > 0)) {
    const guest = [...operands, ...unknown, ...rest].map(shellQuote).join(" ");
    throw new CliError(
      `Cannot tell the guest command from ${usage.split(" ").slice(0, 2).join(" ")}'s options: ${
        JSON.stringify(unknown[0] ?? operands[0])
      } is no option of it; put the guest command after --: ${usage} -- ${guest}`,
      EXIT.usage,
    );
  }
  return dashes < 0 ? operands : rest;
}
