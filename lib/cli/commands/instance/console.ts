/**
 * `vmkit console NAME`: attaches this terminal to an instance's serial console; Ctrl-] detaches.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { instances, library, open } from "./_instance.ts";
import { interruptible } from "./_interrupts.ts";
import { socketTaken } from "./_socket_taken.ts";
import { encoder } from "./_text.ts";
import { examples } from "./_examples.ts";

async function consoleCommand(name: string) {
  const instance = await open(name);
  const state = await instance.status();
  if (state.status !== "running") {
    throw new CliError(
      `Cannot attach to the console of instance "${name}": it is stopped; start it first (vmkit start ${name}); its last output is in ${instance.files.consoleLog}`,
    );
  }
  if (await socketTaken(instance, instance.files.consoleSocket)) {
    throw new CliError(
      `Cannot attach to the console of instance "${name}": another client is attached to it (QEMU serves one at a time); detach that one first (Ctrl-])`,
    );
  }
  const { attachConsole } = await instances();
  // On a terminal Ctrl-C is a key for the guest; SIGINT and SIGTERM from elsewhere detach.
  const end = await interruptible((signal) =>
    library(() => attachConsole(instance.files.consoleSocket, { signal }))
  );
  if (end === "closed") {
    Deno.stderr.writeSync(
      encoder.encode(
        `vmkit: the console of "${name}" closed: QEMU exited (the guest powered off)\n`,
      ),
    );
  }
}

/**
 * Adds `vmkit console`.
 *
 * @param program The `vmkit` program.
 */
export function registerConsole(program: Command): void {
  program.command("console")
    .summary("attach to an instance's serial console; Ctrl-] detaches, the VM runs on")
    .description(
      "Attach this terminal to the serial console of instance NAME: keys go to the guest, its output comes here. Ctrl-] detaches and leaves the VM running. The console is the guest's own: Ctrl-C goes to the guest, and Ctrl-D or exit ends the guest's shell like on a real serial line (on the tiny guest, whose init runs that shell, that powers the instance off). Piped input is typed into the console, and vmkit detaches once the guest goes quiet after it.",
    )
    .argument("<name>", "the instance")
    .addHelpText(
      "after",
      examples(
        [
          "vmkit console web",
          "echo 'uname -a' | vmkit console web",
          "vmkit start web --no-wait && vmkit console web",
        ],
        "Only one client can be attached to a console at a time; everything it printed is in the\ninstance's console.log too.",
      ),
    )
    .action((name: string) => consoleCommand(name));
}
