/**
 * The help text after each instance command: its examples, notes, and where instances live.
 *
 * @module
 */

const STATE = "Instances live in $XDG_STATE_HOME/vmkit/NAME (else ~/.local/state/vmkit/NAME).";

/** The help text after a command: `lines` as examples, then `notes`, then where instances live. */
export function examples(lines: string[], notes?: string): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join("\n")}\n\n${
    notes === undefined ? "" : `${notes}\n\n`
  }${STATE}`;
}
