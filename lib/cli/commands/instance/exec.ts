/**
 * `vmkit exec NAME [--] CMD...`: runs a command in an instance (guest agent, else ssh) and exits
 * with its status.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import { guestCommandWords, shellLineOrArgv } from "../../_command_words.ts";
import { shellStatus } from "../../_interrupt.ts";
import { checkName, library, open } from "./_instance.ts";
import { seconds } from "./_options.ts";
import { interrupted, interruptedError, interruptible } from "./_interrupts.ts";
import { encoder, secondsText, writeAll } from "./_text.ts";
import { examples } from "./_examples.ts";

interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  timeout?: number;
}

async function readStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

/**
 * Opens an instance to run a command in. Failing to is 125, as every way the command could not
 * run (a missing instance too: 1 would read as the command's own status); a bad name is usage.
 */
async function openForCommand(name: string) {
  checkName(name);
  try {
    const instance = await open(name);
    return { instance, record: await library(() => instance.record()) };
  } catch (error) {
    const failure = cliErrorOf(error);
    throw new CliError(failure.message, EXIT.guestCommandNotRun, { cause: error });
  }
}

async function execCommand(name: string, words: string[], command: Command) {
  const argv = guestCommandWords(command, words, `vmkit exec ${name}`);
  const flags = command.opts<ExecFlags>();
  if (argv.length === 0 || (argv.length === 1 && argv[0].trim() === "")) {
    throw new CliError(
      `Cannot run a command in instance "${name}": give one (vmkit exec ${name} -- CMD...)`,
      EXIT.usage,
    );
  }
  const job = shellLineOrArgv(argv);
  const shown = JSON.stringify(argv.join(" "));
  const { instance, record } = await openForCommand(name);
  if (!record.agent && record.ssh === undefined) {
    throw new CliError(
      `Cannot run a command in instance "${name}": its VM has neither the guest agent nor ssh; add agent: true or ssh: true to its definition`,
      EXIT.guestCommandNotRun,
    );
  }
  if (flags.tty) {
    if (record.ssh === undefined) {
      throw new CliError(
        `Cannot give ${shown} a terminal (-t) in instance "${name}": its VM runs commands through the guest agent, which has none; for an interactive shell use its serial console (vmkit console ${name}), or drop -t`,
        EXIT.guestCommandNotRun,
      );
    }
    // A terminal for the command: ssh -t, with this terminal's stdin.
    const code = await library(async () => {
      await using ssh = await instance.ssh();
      return await ssh.shell({ command: job });
    }, EXIT.guestCommandNotRun);
    Deno.exitCode = code;
    return;
  }
  const stdin = flags.interactive ? await readStdin() : undefined;
  const started = performance.now();
  const code = await interruptible(async (signal) => {
    try {
      if (record.agent) {
        await using agent = await instance.agent();
        const result = await agent.exec(job, { stdin, signal, timeout: flags.timeout });
        await writeAll(Deno.stdout, encoder.encode(result.stdout));
        await writeAll(Deno.stderr, encoder.encode(result.stderr));
        return shellStatus(result.exitCode, result.signal);
      }
      await using ssh = await instance.ssh();
      const result = await ssh.exec(job, { stdin, signal, timeout: flags.timeout });
      await writeAll(Deno.stdout, encoder.encode(result.stdout));
      await writeAll(Deno.stderr, encoder.encode(result.stderr));
      return result.exitCode ?? 255;
    } catch (error) {
      if (interrupted(signal)) {
        throw interruptedError(signal, `the command in instance "${name}" was stopped`);
      }
      if (error instanceof Error && error.message === "") {
        // An agent that never answered (QEMU or the guest hangs) ends without words.
        const { pid } = await instance.status();
        throw new CliError(
          `Cannot run ${shown} in instance "${name}": its guest agent did not answer within ${
            secondsText(performance.now() - started)
          }; its QEMU${
            pid === undefined ? " has exited" : ` (pid ${pid}) or its guest may hang`
          } (vmkit info ${name}; the console log is "${instance.files.consoleLog}")`,
          EXIT.guestCommandNotRun,
          { cause: error },
        );
      }
      throw cliErrorOf(error, EXIT.guestCommandNotRun);
    }
  });
  Deno.exitCode = code;
}

const EXEC_NOTES =
  `CMD runs through the guest agent when the VM has one, else over ssh. One word is a shell
command line (sh -c 'echo $HOSTNAME; ls'); several words are a program and its arguments.
vmkit's options go before NAME: everything after NAME is the command, -- before it optional.
vmkit exits with CMD's status (128+N when signal N killed it), or 125 when it could not run it.`;

/**
 * Adds `vmkit exec`.
 *
 * @param program The `vmkit` program.
 */
export function registerExec(program: Command): void {
  program.command("exec")
    .summary("run a command in an instance (guest agent, else ssh); exit with its status")
    .description(
      "Run CMD in instance NAME and exit with its status, its output on stdout and stderr. Without -i the command's stdin is empty.",
    )
    .usage("[options] <name> [--] <command...>")
    .argument("<name>", "the instance")
    .argument("[command...]", "the command: one word is a shell line, more are an argv")
    .option("-i, --interactive", "pass this command's stdin to the guest command")
    .option("-t, --tty", "give the command a terminal (needs ssh; ssh -t)")
    .option("--timeout <seconds>", "kill the command after this long", seconds)
    .passThroughOptions()
    .addHelpText(
      "after",
      examples([
        "vmkit exec web -- uname -a",
        "vmkit exec web uname -a",
        "vmkit exec web -- 'echo $HOSTNAME; ls /'",
        "vmkit exec -i web -- wc -l < file",
        "vmkit exec -it web sh",
      ], EXEC_NOTES),
    )
    .action((name: string, words: string[], _flags: ExecFlags, command: Command) =>
      execCommand(name, words, command)
    );
}
