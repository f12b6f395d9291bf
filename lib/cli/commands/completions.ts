/**
 * `vmkit completions bash|zsh|fish`: a completion script written from the program's own
 * commands, options and arguments; instance names complete through `vmkit list --quiet`.
 *
 * @module
 */

import { Argument, type Command } from "npm:commander@^14.0.3";

const SHELLS = ["bash", "zsh", "fish"] as const;

/**
 * Adds `vmkit completions`.
 *
 * @param program The `vmkit` program.
 */
export function registerCompletions(program: Command): void {
  program.command("completions")
    .summary("print a shell completion script (bash, zsh, fish)")
    .description(
      "Print a completion script for the shell: commands, options, files, and instance names (asked of vmkit list --quiet as you press Tab).",
    )
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .addHelpText(
      "after",
      `
Examples:
  source <(vmkit completions bash)          # in ~/.bashrc
  source <(vmkit completions zsh)           # in ~/.zshrc
  vmkit completions fish > ~/.config/fish/completions/vmkit.fish`,
    )
    .action(async (shell: typeof SHELLS[number]) => {
      const { bashScript, completionTree, fishScript, zshScript } = await import(
        "../_completion_scripts.ts"
      );
      const tree = completionTree(program);
      const name = program.name();
      const script = shell === "bash"
        ? bashScript(tree, name)
        : shell === "zsh"
        ? zshScript(tree, name)
        : fishScript(tree, name);
      Deno.stdout.writeSync(new TextEncoder().encode(script));
    });
}
