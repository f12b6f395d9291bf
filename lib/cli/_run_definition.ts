// What `vmkit run` does, loaded only when it runs (the command's file holds its flags and help):
// load the definition, make its disks in a temporary directory, boot, then the console or CMD
// through the agent, ssh or the tiny guest's job channel.

import type { Command } from "npm:commander@^14.0.3";
import { cliErrorOf, cliWords } from "./_library_errors.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { status } from "./_output.ts";
import { Interrupt, type InterruptedError, shellStatus } from "./_interrupt.ts";
import { runWithConsole } from "./_console_attach.ts";
import { guestJobStatus } from "./_guest_command.ts";
import { splitAtDashes } from "./_command_words.ts";
import { misplacedCommandMessage } from "./commands/run.ts";
import {
  definitionBuilder,
  DefinitionError,
  loadDefinition,
  type VmDefinition,
} from "./definition/mod.ts";
import type { Vm } from "../vm/vm.ts";
import { GUEST_READY_LINE } from "../guest/default_init.ts";

/** The flags of `vmkit run`, as commander gives them. */
export interface RunFlags {
  set?: string[];
  timeout?: number;
  interactive?: boolean;
}

const encoder = new TextEncoder();

async function write(file: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** The command's words: every operand after the file must come after `--`. */
function commandWords(file: string, command: Command, operands: string[]): string[] {
  const { before, after } = splitAtDashes(command, operands);
  if (before.length > 0) throw new CliError(misplacedCommandMessage(file, before), EXIT.usage);
  return after;
}

/** Reads all of stdin, for -i. */
async function readStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

/** Runs CMD through the agent or ssh in a launched VM; returns its status. */
async function execIn(
  machine: Vm,
  def: VmDefinition,
  job: string | string[],
  flags: RunFlags,
  signal: AbortSignal,
): Promise<number> {
  const stdin = flags.interactive ? await readStdin() : undefined;
  const limits = { signal, ...(flags.timeout === undefined ? {} : { timeout: flags.timeout }) };
  if (def.agent === true) {
    status("vmkit: waiting for the guest agent");
    const result = await machine.agent.exec(job, {
      ...limits,
      ...(stdin === undefined ? {} : { stdin }),
    });
    await write(Deno.stdout, result.stdout);
    await write(Deno.stderr, result.stderr);
    return shellStatus(result.exitCode, result.signal);
  }
  status("vmkit: waiting for ssh");
  await machine.ready({ stages: ["ssh"], ...limits });
  const line = typeof job === "string"
    ? job
    : job.map((word) =>
      /^[A-Za-z0-9_./:=+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
    ).join(" ");
  const result = await machine.ssh.exec(line, {
    ...limits,
    ...(stdin === undefined ? {} : { stdin }),
  });
  await write(Deno.stdout, result.stdout);
  await write(Deno.stderr, result.stderr);
  return result.exitCode ?? 255;
}

/**
 * Runs `vmkit run`.
 *
 * @param file The definition.
 * @param operands The words after it (all after `--`).
 * @param flags Its flags.
 * @param command The command (where `--` was).
 * @throws {CliError} For every failure, with its exit status.
 */
export async function runDefinition(
  file: string,
  operands: string[],
  flags: RunFlags,
  command: Command,
): Promise<void> {
  const words = commandWords(file, command, operands);
  const job = words.length === 0 ? undefined : words.length === 1 ? words[0] : words;
  if (typeof job === "string" && job.trim() === "") {
    throw new CliError("Cannot run an empty command in the guest: give one after --", EXIT.usage);
  }
  let def: VmDefinition;
  try {
    def = (await loadDefinition(file, { set: flags.set ?? [] })).definition;
  } catch (error) {
    if (!(error instanceof DefinitionError)) throw error;
    // One line per problem, each saying where, as validate and show print them.
    console.error(error.message);
    Deno.exitCode = EXIT.usage;
    return;
  }
  const way = job === undefined
    ? "console"
    : def.agent === true
    ? "agent"
    : def.ssh !== undefined && def.ssh !== false
    ? "ssh"
    : "job";
  if (way === "job" && def.guest !== "tiny" && def.kernel === undefined) {
    throw new CliError(
      `Cannot run ${
        JSON.stringify(words.join(" "))
      } in the VM of "${file}": it has no way in; add agent: true (a guest with qemu-ga), ssh: true (a cloud image with a seed), or boot guest: tiny`,
      EXIT.usage,
    );
  }
  const notRun = job === undefined ? EXIT.failure : EXIT.guestCommandNotRun;
  const diskDir = await Deno.makeTempDir({ prefix: "vmkit-run-" });
  using interrupt = new Interrupt();
  const signal = interrupt.signal;
  try {
    status(`vmkit: making the VM of ${file}`);
    const builder = await definitionBuilder(def, { diskDir, create: true, signal });
    status("vmkit: booting");
    if (job === undefined) {
      await runWithConsole(builder, {
        signal,
        ...(def.guest === "tiny" ? { readyLine: GUEST_READY_LINE } : {}),
      });
      return;
    }
    if (way === "job") {
      Deno.exitCode = await guestJobStatus(builder, job, {
        signal,
        ...(flags.timeout === undefined ? {} : { timeout: flags.timeout }),
        noStatusPort:
          "the job channel needs vmkit's init and a virtio console in the guest (guest: tiny has both); give the definition agent: true or ssh: instead",
      });
      return;
    }
    await using machine = await builder.launch({ signal });
    const code = await execIn(machine, def, job, flags, signal).catch((error) => {
      if (signal.aborted) throw signal.reason;
      // The error is printed once the VM is down, which may take the shutdown's whole time limit.
      status("vmkit: shutting the VM down");
      throw new CliError(
        `Cannot run ${JSON.stringify(words.join(" "))} in the guest: ${
          cliWords((error as Error).message)
        }`,
        EXIT.guestCommandNotRun,
        { cause: error },
      );
    });
    status("vmkit: shutting the VM down");
    await machine.shutdown();
    Deno.exitCode = code;
  } catch (error) {
    // Ctrl-C ends whatever was waiting with its own error: the signal says what happened.
    if (signal.aborted) throw signal.reason as InterruptedError;
    if (error instanceof CliError) throw error;
    throw cliErrorOf(error, notRun);
  } finally {
    await Deno.remove(diskDir, { recursive: true }).catch(() => {});
  }
}
