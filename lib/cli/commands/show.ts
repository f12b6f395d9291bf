/**
 * `vmkit show FILE`: the QEMU command line a VM definition gives, shell-quoted.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { printJson } from "../_output.ts";
import { EXIT } from "../exit_codes.ts";
import type { ImageFormat } from "../../vm/image_format.ts";
import type { VmBuilder } from "../../vm/builder.ts";
import type { ToArgvOptions } from "../../vm/argv.ts";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The disk directory `show` writes when none is given: a placeholder, plainly. */
const DISK_DIR = "DISK_DIR";

const HELP = `
Prints what run would start: the QEMU binary and arguments, shell-quoted, with the accelerator
chosen as auto would choose it here and UEFI firmware found. Nothing is made: disks the VM makes
(overlayOf, size) are named as they would be, in --disk-dir (default the placeholder ${DISK_DIR}),
and the sockets in /tmp/vmkit (run uses a private directory of its own).

Examples:
  vmkit show vm.yaml
  vmkit show vm.yaml --set memory=2G --json | jq -r '.argv[]'
  vmkit show recipes/vm/debian.yaml --disk-dir ~/.local/state/vmkit/debian

Exit status: 0, or 2 for an invalid definition.`;

/** What `launch()` would write: firmware found, the accelerator and drive formats resolved. */
async function asLaunched(
  builder: VmBuilder,
): Promise<{ builder: VmBuilder; options: ToArgvOptions }> {
  const resolved = await builder.resolved();
  const accel = resolved.resolveAccel().accel;
  const { checkImageFormat } = await import("../../vm/image_format.ts");
  const driveFormats: Record<string, ImageFormat> = {};
  for (const drive of resolved.drives) {
    driveFormats[drive.id] = drive.format ??
      await checkImageFormat(`Cannot show drive "${drive.id}"`, drive.file);
  }
  return { builder: resolved, options: { accel, driveFormats } };
}

/**
 * Adds `vmkit show FILE [--set k=v]... [--json] [--disk-dir DIR]`.
 *
 * @param program The vmkit program.
 */
export function registerShow(program: Command): void {
  program.command("show")
    .description("print the QEMU command line of a VM definition, shell-quoted")
    .argument("<file>", "VM definition file (YAML or JSON)")
    .option("--set <key=value>", "override a field, such as memory=2G (repeatable)", collect, [])
    .option("--disk-dir <dir>", "where the disks the VM makes would be", DISK_DIR)
    .option("--json", "print { argv, definition } as JSON on stdout")
    .addHelpText("after", HELP)
    .action(
      async (file: string, options: { set: string[]; diskDir: string; json?: boolean }) => {
        // Loaded when used, so that vmkit --help does not wait for zod and the builder.
        const { definitionBuilder, DefinitionError, loadDefinition } = await import(
          "../definition/mod.ts"
        );
        let loaded;
        try {
          loaded = await loadDefinition(file, { set: options.set });
        } catch (error) {
          if (!(error instanceof DefinitionError)) throw error;
          console.error(error.message);
          Deno.exitCode = EXIT.usage;
          return;
        }
        const builder = await definitionBuilder(loaded.definition, {
          diskDir: options.diskDir,
          create: false,
        });
        const launched = await asLaunched(builder);
        if (options.json) {
          const argv = [launched.builder.binary, ...launched.builder.toArgv(launched.options)];
          printJson({ argv, definition: loaded.definition });
        } else {
          console.log(launched.builder.toShell(launched.options));
        }
      },
    );
}
