/**
 * `vmkit stop NAME...`: the guest powers off, then QEMU quits.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { status } from "../../_output.ts";
import { open } from "./_instance.ts";
import { seconds } from "./_options.ts";
import { eachName } from "./_each_name.ts";
import { secondsText } from "./_text.ts";
import { examples } from "./_examples.ts";

/** The flags of `vmkit stop`. */
export interface StopFlags {
  force?: boolean;
  timeout?: number;
}

/**
 * Stops each instance named, as `vmkit stop` does.
 *
 * @param names The instances.
 * @param flags `--force` and `--timeout`.
 * @returns Once every instance was handled.
 * @throws {CliError} For one name that failed, or an interrupt.
 */
export async function stopCommand(names: string[], flags: StopFlags): Promise<void> {
  await eachName(names, async (name, signal) => {
    const instance = await open(name);
    status(`vmkit: stopping instance "${name}"`);
    const result = await instance.stop({ force: flags.force, timeout: flags.timeout, signal });
    status(
      result.method === "already-stopped"
        ? `vmkit: instance "${name}" was not running`
        : `vmkit: instance "${name}" stopped (${result.method}) after ${
          secondsText(result.durationMs)
        }`,
    );
  }, (name) => `the stop of instance "${name}" may be half done; run vmkit stop ${name} again`);
}

/**
 * Adds `vmkit stop`.
 *
 * @param program The `vmkit` program.
 */
export function registerStop(program: Command): void {
  program.command("stop")
    .summary("stop instances: the guest powers off, then QEMU quits")
    .description(
      "Ask the guest to power off (through its agent when it answers, else the ACPI power button), then QMP quit, SIGTERM and SIGKILL. Every instance named is stopped; one that cannot be is reported, and vmkit exits with 1.",
    )
    .argument("<names...>", "instances to stop")
    .option("-f, --force", "do not ask the guest: QMP quit (disks are flushed), then signals")
    .option("--timeout <seconds>", "time the guest gets to power off (default 30)", seconds)
    .addHelpText("after", examples(["vmkit stop web", "vmkit stop --force web db"]))
    .action((names: string[], flags: StopFlags) => stopCommand(names, flags));
}
