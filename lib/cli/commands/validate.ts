/**
 * `vmkit validate FILE...`: checks VM definitions without making or starting anything.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { printJson } from "../_output.ts";
import { EXIT } from "../exit_codes.ts";
import type { DefinitionProblem } from "../definition/mod.ts";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const HELP = `
Checks each file as run and start would read it: the schema (lib/cli/vm.schema.json), extends,
the --set overrides, the files it names (a kernel must be one, for the VM's arch), and what this
host and QEMU can run (the machine's CPU limit, the host's memory, KVM for accel: kvm, the tiny
guest's memory floor and shares). Prints FILE: ok, or one line per problem on stderr:
  vm.yaml:12:5: disks[1].size: "10X" is not a size, expected a number and a unit, such as "10G"

Examples:
  vmkit validate vm.yaml
  vmkit validate recipes/vm/*.yaml --json
  vmkit validate vm.yaml --set memory=2G --set disks[0].size=20G

Exit status: 0 when every file is valid, 2 when one is not.`;

/** What `--json` prints for one file. */
interface FileReport {
  file: string;
  valid: boolean;
  problems: (Omit<DefinitionProblem, "line" | "column"> & {
    line: number | null;
    column: number | null;
  })[];
}

/**
 * Adds `vmkit validate FILE... [--set k=v]... [--json]`.
 *
 * @param program The vmkit program.
 */
export function registerValidate(program: Command): void {
  program.command("validate")
    .description("check VM definitions (YAML or JSON) without making or starting anything")
    .argument("<file...>", "VM definition files")
    .option("--set <key=value>", "override a field, such as memory=2G (repeatable)", collect, [])
    .option("--json", "print a JSON report on stdout")
    .addHelpText("after", HELP)
    .action(async (files: string[], options: { set: string[]; json?: boolean }) => {
      // Loaded when used, so that vmkit --help does not wait for zod and the builder.
      const { DefinitionError, loadDefinition } = await import("../definition/mod.ts");
      const reports: FileReport[] = [];
      for (const file of files) {
        try {
          await loadDefinition(file, { set: options.set });
          reports.push({ file, valid: true, problems: [] });
          if (!options.json) console.log(`${file}: ok`);
        } catch (error) {
          if (!(error instanceof DefinitionError)) throw error;
          // null, not a missing key, for a --set's line and column.
          const problems = error.problems.map((p) => ({
            ...p,
            line: p.line ?? null,
            column: p.column ?? null,
          }));
          reports.push({ file, valid: false, problems });
          if (!options.json) console.error(error.message);
        }
      }
      if (options.json) printJson(reports);
      if (reports.some((r) => !r.valid)) Deno.exitCode = EXIT.usage;
    });
}
