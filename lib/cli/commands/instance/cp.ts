/**
 * `vmkit cp SOURCE TARGET`: copies a file to or from an instance (guest agent, else scp).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { library, open } from "./_instance.ts";
import { examples } from "./_examples.ts";

/** `NAME:PATH` split, when the part before the colon names an instance. */
function remotePath(arg: string): { name: string; path: string } | undefined {
  const at = arg.indexOf(":");
  if (at <= 0) return undefined;
  const name = arg.slice(0, at);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) return undefined;
  return { name, path: arg.slice(at + 1) };
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? path;
}

async function cpCommand(source: string, target: string, flags: { recursive?: boolean }) {
  const from = remotePath(source);
  const to = remotePath(target);
  if ((from === undefined) === (to === undefined)) {
    throw new CliError(
      `Cannot copy "${source}" to "${target}": name the instance on exactly one side, as NAME:/path (vmkit cp file.txt web:/tmp/, vmkit cp web:/etc/hostname .)`,
      EXIT.usage,
    );
  }
  const remote = (from ?? to)!;
  if (remote.path === "") {
    throw new CliError(
      `Cannot copy ${
        from ? "from" : "to"
      } "${remote.name}:": give a path in the guest after the colon`,
      EXIT.usage,
    );
  }
  const instance = await open(remote.name);
  const record = await library(() => instance.record());
  if (record.agent && !flags.recursive) {
    await library(async () => {
      await using agent = await instance.agent();
      if (to !== undefined) {
        const guestPath = to.path.endsWith("/") ? `${to.path}${basename(source)}` : to.path;
        await agent.copyIn(source, guestPath);
      } else {
        let hostPath = target;
        if ((await Deno.stat(target).catch(() => undefined))?.isDirectory) {
          hostPath = `${target.replace(/\/+$/, "")}/${basename(from!.path)}`;
        }
        await agent.copyOut(from!.path, hostPath);
      }
    });
    return;
  }
  const login = record.ssh;
  const port = record.lastStart?.sshPort;
  if (login === undefined || port === undefined) {
    throw new CliError(
      record.agent
        ? `Cannot copy recursively with instance "${remote.name}": the guest agent copies single files, and its VM has no ssh for scp -r; copy files one by one, or add ssh: true to its definition`
        : `Cannot copy with instance "${remote.name}": its VM has neither the guest agent nor ssh; add agent: true or ssh: true to its definition`,
    );
  }
  if ((await instance.status()).status !== "running") {
    throw new CliError(
      `Cannot copy with instance "${remote.name}": it is stopped; start it first (vmkit start ${remote.name})`,
    );
  }
  const { scpArgs } = await import("../../../instance/_ssh_login.ts");
  const args = scpArgs(
    login,
    port,
    from === undefined ? source : `:${from.path}`,
    to === undefined ? target : `:${to.path}`,
    { recursive: flags.recursive },
  );
  const output = await library(() =>
    new Deno.Command("scp", { args, stdin: "null", stdout: "inherit", stderr: "inherit" }).output()
  );
  if (!output.success) {
    throw new CliError(
      `Cannot copy "${source}" to "${target}": scp exited with code ${output.code}`,
    );
  }
}

/**
 * Adds `vmkit cp`.
 *
 * @param program The `vmkit` program.
 */
export function registerCp(program: Command): void {
  program.command("cp")
    .summary("copy a file to or from an instance (guest agent, else scp)")
    .description(
      "Copy a file between the host and instance NAME: NAME:PATH names the guest's side. A directory target takes the file's name. The guest agent copies single files; -r needs ssh (scp -r).",
    )
    .argument("<source>", "a host path, or NAME:PATH")
    .argument("<target>", "a host path, or NAME:PATH")
    .option("-r, --recursive", "copy directories (scp, needs ssh)")
    .addHelpText(
      "after",
      examples([
        "vmkit cp ./app.tar web:/tmp/",
        "vmkit cp web:/var/log/syslog ./syslog",
        "vmkit cp -r ./site web:/srv/",
      ]),
    )
    .action((source: string, target: string, flags: { recursive?: boolean }) =>
      cpCommand(source, target, flags)
    );
}
