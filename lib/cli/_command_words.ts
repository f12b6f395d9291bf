// Where `--` was on the command line: commander hands a command its operands with the words
// after `--` appended and the `--` dropped, but keeps the words it parsed (rawArgs, missing
// from its typings), so counting from the end finds them.

import type { Command } from "npm:commander@^14.0.3";

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
