#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write
/**
 * An interactive QMP shell, like QEMU's `qmp-shell`: `command key=value ...` (dotted keys for
 * nested objects, JSON values) or raw JSON; tab completes command names (from `query-commands`)
 * and argument names (from the QAPI schema); arrow keys recall history. With `--hmp` lines go
 * to the human monitor. Lines piped in run one by one, for scripting; the exit code is 1 if
 * any failed.
 *
 * Deno grants a unix socket only with net, read and write access to its path; the shebang grants
 * them for any path because the socket is yours to name. To narrow them, run it as
 * `deno run --allow-net=unix:SOCK --allow-read=SOCK --allow-write=SOCK recipes/qmp-shell.ts SOCK`.
 *
 * Usage: ./recipes/qmp-shell.ts [--hmp] [--compact] [--timeout MS] SOCKET|HOST:PORT
 * In the shell: `.hmp` and `.qmp` switch modes, `.help` helps, Ctrl-D quits.
 */
import * as readline from "node:readline";
import process from "node:process";
import { parseCommandLine, QmpError } from "../mod.ts";
import { qmpCli } from "./_qmp_cli.ts";

const { values, qmp } = await qmpCli(
  "qmp-shell",
  "usage: qmp-shell.ts [--hmp] [--compact] [--timeout MS] SOCKET|HOST:PORT",
  {
    hmp: { type: "boolean", short: "H" },
    compact: { type: "boolean", short: "c" },
    timeout: { type: "string", default: "30000" },
  },
);
const timeout = Number(values.timeout);
if (!Number.isInteger(timeout) || timeout <= 0) {
  console.error(
    `qmp-shell: --timeout ${values.timeout} is not a positive whole number of milliseconds`,
  );
  await qmp.close();
  Deno.exit(2);
}

const interactive = Deno.stdin.isTerminal();
const pretty = interactive && !values.compact;
let hmp = values.hmp ?? false;

// Argument names of each command, from the live schema (union branches included).
const commands = (await qmp.execute("query-commands")).map((c) => c.name).sort();
const argNames = new Map<string, string[]>();
{
  type Info = {
    name: string;
    "meta-type": string;
    "arg-type"?: string;
    members?: { name?: string }[];
    variants?: { type: string }[];
  };
  const schema = await qmp.execute("query-qmp-schema") as Info[];
  const byName = new Map(schema.map((info) => [info.name, info]));
  const membersOf = (type: string | undefined): string[] => {
    const info = type === undefined ? undefined : byName.get(type);
    if (info?.["meta-type"] !== "object") return [];
    return [
      ...(info.members ?? []).map((m) => m.name!),
      ...(info.variants ?? []).flatMap((v) => membersOf(v.type)),
    ];
  };
  for (const info of schema) {
    if (info["meta-type"] === "command") {
      argNames.set(info.name, [...new Set(membersOf(info["arg-type"]))].sort());
    }
  }
}

function complete(line: string): [string[], string] {
  if (hmp) return [[], line];
  const words = line.split(/\s+/);
  if (words.length === 1) return [commands.filter((c) => c.startsWith(line)), line];
  const last = words[words.length - 1];
  if (last.includes("=")) return [[], last];
  const used = new Set(words.slice(1, -1).map((w) => w.split("=")[0]));
  const keys = (argNames.get(words[0]) ?? []).filter((k) => !used.has(k) && k.startsWith(last));
  return [keys.map((k) => `${k}=`), last];
}

function show(value: unknown): string {
  if (typeof value === "string" && hmp) return value.replace(/\r?\n$/, "");
  return pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}

const rl = readline.createInterface({
  input: process.stdin,
  output: process.stdout,
  terminal: interactive,
  completer: complete,
  historySize: 1000,
});
const setPrompt = () => rl.setPrompt(hmp ? "(HMP) " : "(QEMU) ");
if (interactive) {
  const { major, minor, micro } = qmp.version;
  console.log(`Connected to QEMU ${major}.${minor}.${micro}; .help for help, Ctrl-D to quit`);
  setPrompt();
  rl.prompt();
  rl.on("SIGINT", () => {
    rl.write(null, { ctrl: true, name: "u" });
    process.stdout.write("\n");
    rl.prompt();
  });
}
qmp.closed.then((reason) => {
  if (reason !== undefined) {
    console.error(`qmp-shell: ${reason.message}`);
    Deno.exit(1);
  }
});

let failures = 0;
for await (const line of rl) {
  const text = line.trim();
  if (text === ".hmp" || text === ".qmp") {
    hmp = text === ".hmp";
    setPrompt();
  } else if (text === ".help") {
    console.log(
      [
        "command key=value ...   run a QMP command; file.driver=file makes nested objects",
        "{JSON}                  run a raw QMP command",
        ".hmp / .qmp             switch to the human monitor / back to QMP",
        "Tab completes command and argument names; Up/Down recall history; Ctrl-D quits",
      ].join("\n"),
    );
  } else if (text !== "" && !text.startsWith("#")) {
    try {
      if (hmp) {
        console.log(show(await qmp.hmp(text, { timeout })));
      } else {
        const command = parseCommandLine(text)!;
        console.log(show(await qmp.execute(command.command, command.arguments, { timeout })));
      }
    } catch (error) {
      failures++;
      const message = error instanceof QmpError
        ? `${error.errorClass}: ${error.desc}`
        : (error as Error).message;
      console.error(`error: ${message}`);
    }
  }
  if (interactive) rl.prompt();
}
await qmp.close();
if (interactive) console.log();
Deno.exit(failures > 0 ? 1 : 0);
