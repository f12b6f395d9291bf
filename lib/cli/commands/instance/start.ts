/**
 * `vmkit start NAME [FILE]` and `vmkit restart NAME`: boot a named instance in the background,
 * from a definition file or the one its last start saved.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { status } from "../../_output.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import type { Instance } from "../../../instance/mod.ts";
import { checkName, instances, library, open } from "./_instance.ts";
import { collect, seconds } from "./_options.ts";
import { interrupted, interruptedError, interruptible } from "./_interrupts.ts";
import { secondsText } from "./_text.ts";
import { examples } from "./_examples.ts";
import { type PreparedVm, prepareVm } from "./_prepared_vm.ts";
import { stopCommand } from "./stop.ts";

interface StartFlags {
  set?: string[];
  wait: boolean;
  timeout?: number;
}

/** Starts the instance, saves its definition once QEMU runs, then waits for its guest. */
async function launch(name: string, prepared: PreparedVm, flags: StartFlags): Promise<void> {
  await interruptible(async (signal) => {
    status(`vmkit: starting instance "${name}"`);
    const started = performance.now();
    let instance: Instance;
    try {
      const { startInstance } = await instances();
      instance = await startInstance(name, prepared.vm, { signal, timeout: flags.timeout });
      await prepared.save?.(instance.dir);
    } catch (error) {
      if (interrupted(signal)) {
        throw interruptedError(signal, `instance "${name}" was not started (QEMU was stopped)`);
      }
      throw cliErrorOf(error);
    }
    const { pid } = await instance.status();
    status(`vmkit: qemu: running (pid ${pid}) after ${secondsText(performance.now() - started)}`);
    if (flags.wait) {
      try {
        await instance.ready({
          signal,
          timeout: flags.timeout ?? 300_000,
          onStage: (stage, ms) => status(`vmkit: ${stage}: ready after ${secondsText(ms)}`),
        });
      } catch (error) {
        if (interrupted(signal)) {
          throw interruptedError(
            signal,
            `instance "${name}" keeps running, its guest not ready yet; stop it with: vmkit stop ${name}`,
          );
        }
        // The library is loaded by now: startInstance came from it.
        const { InstancePanicError } = await instances();
        if (error instanceof InstancePanicError) {
          // A guest that panics while it boots reboots into the same panic, for ever.
          const stopped = await instance.stop({ force: true }).then(
            () => `vmkit stopped it`,
            (stop) =>
              `vmkit could not stop it (${(stop as Error).message}): vmkit stop --force ${name}`,
          );
          throw new CliError(
            `${error.message}; ${stopped} (a guest that panics as it boots reboots into the same panic)`,
            EXIT.failure,
            { cause: error },
          );
        }
        throw cliErrorOf(error, EXIT.failure);
      }
    }
    status(
      `vmkit: instance "${name}" is running: vmkit console ${name}, vmkit exec ${name} -- CMD, vmkit stop ${name}`,
    );
  });
}

async function startCommand(name: string, file: string | undefined, flags: StartFlags) {
  checkName(name);
  await launch(name, await prepareVm(name, file, flags.set ?? []), flags);
}

async function restartCommand(name: string, flags: StartFlags) {
  const instance = await open(name);
  // Everything the start needs is checked before the instance is stopped.
  const prepared = await prepareVm(name, undefined, flags.set ?? []);
  if (prepared.vm === undefined) await library(() => instance.record());
  await stopCommand([name], { timeout: flags.timeout });
  try {
    await launch(name, prepared, flags);
  } catch (error) {
    // What only QEMU can tell (memory it cannot have, a port taken) shows once it was stopped.
    if (
      error instanceof CliError && error.exitCode === EXIT.failure &&
      (await instance.status()).status === "stopped"
    ) {
      const [headline, ...details] = error.message.split("\n");
      throw new CliError(
        [
          `${headline}; the restart stopped it, and it stays stopped: vmkit start ${name} starts it as its last good start did`,
          ...details,
        ].join("\n"),
        error.exitCode,
        { cause: error },
      );
    }
    throw error;
  }
}

const START_NOTES =
  `A start that fails keeps the instance as its last good start left it: its saved definition
and record are replaced only once QEMU runs, and QEMU's own message is shown. Disks the
definition makes (size, overlayOf) are made by the first start and kept; a FILE that changes
their size or base is refused, saying how to resize or rebase them.
Ctrl-C before QEMU is up stops it: the instance is not started (a new one is not made). Ctrl-C
while waiting for the guest leaves the instance running, and says how to stop it. Either way
vmkit exits with 130.`;

/**
 * Adds `vmkit start`.
 *
 * @param program The `vmkit` program.
 */
export function registerStart(program: Command): void {
  program.command("start")
    .summary("start a named instance in the background")
    .description(
      "Start instance NAME in the background: its QEMU outlives this command. FILE (YAML or JSON) is needed the first time; later starts reuse the saved definition (FILE replaces it). Waits for the guest agent and ssh when the definition has them.",
    )
    .argument("<name>", "the instance's name: letters, digits, -, _ and .")
    .argument("[file]", "the VM definition (the first time)")
    .option("--set <key=value>", "override a definition field (repeatable; saved)", collect)
    .option("--no-wait", "return once QEMU runs, without waiting for the agent or ssh")
    .option("--timeout <seconds>", "time for the start and the wait (default 300)", seconds)
    .addHelpText(
      "after",
      examples([
        "vmkit start web vm.yaml",
        "vmkit start web --set memory=2G",
        "vmkit start web --no-wait && vmkit console web",
      ], START_NOTES),
    )
    .action((name: string, file: string | undefined, flags: StartFlags) =>
      startCommand(name, file, flags)
    );
}

/**
 * Adds `vmkit restart`.
 *
 * @param program The `vmkit` program.
 */
export function registerRestart(program: Command): void {
  program.command("restart")
    .summary("stop an instance, then start it again with its saved definition")
    .description(
      "Stop instance NAME as vmkit stop does, then start it as vmkit start does, from the definition its last start saved (with --set applied). The definition and --set are checked first: a mistake leaves the instance running as it was.",
    )
    .argument("<name>", "the instance")
    .option("--set <key=value>", "override a definition field (repeatable; saved)", collect)
    .option("--no-wait", "return once QEMU runs")
    .option("--timeout <seconds>", "time the guest gets to power off, and the start", seconds)
    .addHelpText(
      "after",
      examples([
        "vmkit restart web",
        "vmkit restart web --set cpus=4 --set memory=2G",
        "vmkit restart --no-wait web && vmkit console web",
      ]),
    )
    .action((name: string, flags: StartFlags) => restartCommand(name, flags));
}
