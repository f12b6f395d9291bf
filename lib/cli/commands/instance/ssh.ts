/**
 * `vmkit ssh NAME [--] [CMD...]` (`shell`): logs into an instance over ssh, with its key and
 * known host key.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { guestCommandWords, shellLineOrArgv } from "../../_command_words.ts";
import { library, open } from "./_instance.ts";
import { examples } from "./_examples.ts";

async function sshCommand(name: string, words: string[], command: Command) {
  const args = guestCommandWords(command, words, `vmkit ssh ${name}`);
  const instance = await open(name);
  const record = await library(() => instance.record());
  if (record.ssh === undefined) {
    throw new CliError(
      `Cannot ssh into instance "${name}": its VM has no ssh login; add ssh: true to its definition and start it with that (vmkit stop ${name}; vmkit start ${name} FILE)${
        record.agent ? `, or run commands through its guest agent (vmkit exec ${name} -- CMD)` : ""
      }`,
    );
  }
  const code = await library(async () => {
    await using ssh = await instance.ssh();
    return await ssh.shell(args.length === 0 ? {} : { command: shellLineOrArgv(args) });
  });
  Deno.exitCode = code;
}

/**
 * Adds `vmkit ssh` (`shell`).
 *
 * @param program The `vmkit` program.
 */
export function registerSsh(program: Command): void {
  program.command("ssh")
    .alias("shell")
    .summary("log into an instance over ssh, with its key and known host key")
    .description(
      "Log into instance NAME over ssh with the key and known host key its start prepared (its definition needs ssh: true), or run CMD there with a terminal. One word is a line for the remote shell; several words are quoted for it.",
    )
    .usage("[options] <name> [--] [command...]")
    .argument("<name>", "the instance")
    .argument("[command...]", "a command to run instead of a login shell")
    .passThroughOptions()
    .addHelpText(
      "after",
      examples([
        "vmkit ssh web",
        "vmkit ssh web -- sudo journalctl -b",
        "vmkit ssh web 'uname -a; id'",
      ]),
    )
    .action((name: string, words: string[], _flags: unknown, command: Command) =>
      sshCommand(name, words, command)
    );
}
