/**
 * `vmkit list` (`ls`): the instances, with their status and resources.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { printJson, printTable, status } from "../../_output.ts";
import { library } from "./_instance.ts";
import { encoder, memoryText } from "./_text.ts";
import { examples } from "./_examples.ts";

async function listCommand(flags: { json?: boolean; quiet?: boolean }) {
  const { listInstances } = await import("../../../instance/list.ts");
  // --quiet is what shell completion calls on every Tab: it only looks.
  const summaries = await library(() => listInstances({ cleanUp: !flags.quiet }));
  if (flags.json) return printJson(summaries);
  if (flags.quiet) {
    if (summaries.length > 0) {
      Deno.stdout.writeSync(encoder.encode(summaries.map((i) => i.name).join("\n") + "\n"));
    }
    return;
  }
  printTable(
    ["name", "status", "arch", "cpus", "memory", "ssh", "dir"],
    summaries.map((i) =>
      i.status === "broken" ? [i.name, "broken", "-", "-", "-", "-", i.dir] : [
        i.name,
        i.status,
        i.arch,
        String(i.cpus),
        memoryText(i.memoryMiB),
        i.ssh ?? "-",
        i.dir,
      ]
    ),
  );
  if (summaries.some((i) => i.status === "broken")) {
    status("vmkit: a broken instance's record cannot be read; vmkit info NAME says what to do");
  }
}

/**
 * Adds `vmkit list` (`ls`).
 *
 * @param program The `vmkit` program.
 */
export function registerList(program: Command): void {
  program.command("list")
    .alias("ls")
    .summary("list the instances (dead QEMUs are found and cleaned up)")
    .description(
      "List the instances with their status (running, stopped, or broken: a record that cannot be read, the reason in --json and vmkit info), architecture, CPUs, memory and ssh address. An instance whose QEMU died (kill -9, a crash) reads as stopped, and the sockets it left are removed.",
    )
    .option("--json", "a JSON array on stdout")
    .option("-q, --quiet", "names only, one per line")
    .addHelpText(
      "after",
      examples([
        "vmkit list",
        "vmkit list --json | jq -r '.[] | select(.status == \"running\") | .name'",
        "vmkit list -q",
      ]),
    )
    .action((flags: { json?: boolean; quiet?: boolean }) => listCommand(flags));
}
