/**
 * `vmkit delete NAME...` (`rm`): an instance's state directory, disks and keys.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { EXIT } from "../../exit_codes.ts";
import { status } from "../../_output.ts";
import { library, open } from "./_instance.ts";
import { eachName } from "./_each_name.ts";
import { examples } from "./_examples.ts";

async function deleteCommand(names: string[], flags: { force?: boolean }) {
  await eachName(
    names,
    async (name) => {
      const instance = await open(name);
      await library(() => instance.delete({ force: flags.force }), EXIT.failure);
      status(`vmkit: deleted instance "${name}"`);
    },
    (name) => `the deletion of instance "${name}" may be half done; run vmkit delete ${name} again`,
  );
}

/**
 * Adds `vmkit delete` (`rm`).
 *
 * @param program The `vmkit` program.
 */
export function registerDelete(program: Command): void {
  program.command("delete")
    .alias("rm")
    .summary("delete stopped instances: their state directory, disks and keys")
    .description(
      "Delete each instance named: its state directory with its disks, keys, logs and saved definition. A running instance is refused unless --force, which quits its QEMU first (the guest is not asked). Every instance named is handled; one that cannot be is reported, and vmkit exits with 1.",
    )
    .argument("<names...>", "instances to delete")
    .option("-f, --force", "delete running (or broken) instances too: QEMU is quit first")
    .addHelpText(
      "after",
      examples(["vmkit delete web", "vmkit delete --force web db", "vmkit rm $(vmkit list -q)"]),
    )
    .action((names: string[], flags: { force?: boolean }) => deleteCommand(names, flags));
}
