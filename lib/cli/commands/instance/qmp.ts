/**
 * `vmkit qmp NAME COMMAND [key=value...]`: runs one QMP command on an instance and prints the
 * reply as JSON.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { printJson } from "../../_output.ts";
import { library, open } from "./_instance.ts";
import { seconds } from "./_options.ts";
import { encoder } from "./_text.ts";
import { examples } from "./_examples.ts";

/** `key=value` words as QMP arguments: values as JSON when they parse, else strings. */
function qmpArguments(words: string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const word of words) {
    const at = word.indexOf("=");
    if (at <= 0) {
      throw new CliError(
        `Cannot read QMP argument ${
          JSON.stringify(word)
        }: write key=value (a value is JSON when it parses as JSON, else a string; a.b=1 nests)`,
        EXIT.usage,
      );
    }
    const text = word.slice(at + 1);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    const keys = word.slice(0, at).split(".");
    let target = args;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1]] = value;
  }
  return args;
}

async function qmpCommand(
  name: string,
  command: string,
  words: string[],
  flags: { timeout?: number },
) {
  const args = qmpArguments(words);
  const instance = await open(name);
  const { QmpError } = await import("../../../qmp/errors.ts");
  const reply = await library(async () => {
    await using qmp = await instance.qmp({ timeout: flags.timeout ?? 10_000 });
    try {
      return await qmp.execute(command, args, { timeout: flags.timeout ?? 60_000 });
    } catch (error) {
      if (error instanceof QmpError) {
        throw new CliError(
          `Cannot run QMP command "${command}": ${error.errorClass}: ${error.desc}`,
        );
      }
      throw error;
    }
  });
  if (command === "human-monitor-command" && typeof reply === "string") {
    // The human monitor's answer is text, printed as it is (with a terminal's \r\n as \n).
    const text = reply.replaceAll("\r\n", "\n");
    if (text !== "") {
      Deno.stdout.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
    }
    return;
  }
  printJson(reply ?? {});
}

/**
 * Adds `vmkit qmp`.
 *
 * @param program The `vmkit` program.
 */
export function registerQmp(program: Command): void {
  program.command("qmp")
    .summary("run a QMP command on an instance and print the reply as JSON")
    .description(
      "Run one QMP command on instance NAME's monitor and print QEMU's reply as JSON (the text of human-monitor-command as it is). Arguments are key=value: a value that parses as JSON is JSON, else a string; a.b=1 nests.",
    )
    .argument("<name>", "the instance")
    .argument("<command>", "the QMP command, such as query-status")
    .argument("[args...]", "key=value arguments: JSON values when they parse, else strings")
    .option("--timeout <seconds>", "time for the reply (default 60)", seconds)
    .addHelpText(
      "after",
      examples([
        "vmkit qmp web query-status",
        'vmkit qmp web human-monitor-command command-line="info block"',
        "vmkit qmp web device_del id=disk1",
      ], "A monitor serves one client at a time: vmkit events listens on a second one."),
    )
    .action((name: string, command: string, args: string[], flags: { timeout?: number }) =>
      qmpCommand(name, command, args, flags)
    );
}
