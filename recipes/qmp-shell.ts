#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write
/**
 * An interactive QMP shell, like QEMU's `qmp-shell`: `command key=value ...` (dotted keys for
 * nested objects, JSON values) or raw JSON; tab completes command names (from `query-commands`)
 * and argument names (from the QAPI schema); arrow keys recall history. With `--hmp` lines go
 * to the human monitor, and `.hmp LINE` sends one line there from QMP mode (`.qmp COMMAND` runs
 * one QMP command from HMP mode). Lines piped in run one by one, for scripting: an error names
 * the input line (`qmp-shell: line 3: device_del id=nope: DeviceNotFound: ...`), the rest still
 * run, and the exit code is 1 if any failed.
 *
 * HMP has no error replies: `human-monitor-command` returns QEMU's error text as its output. The
 * shell counts an HMP line as failed when its output starts with `Error: ` (commands reporting an
 * error) or `unknown command: `, or has the parser's `Try "help ..." for more information` line
 * (bad arguments). Other complaints that some commands print in their own words (`info
 * registers` without a CPU says "No CPU available") look like any output and are not counted.
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

/** `".hmp info status"` → `[".hmp", "info status"]`. */
function splitFirstWord(text: string): [string, string] {
  const match = /^(\S*)\s*(.*)$/s.exec(text)!;
  return [match[1], match[2]];
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
  return pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}

/**
 * The error in an HMP command's output, by the rule in this file's header; `undefined` when the
 * output does not look like one. Its lines are joined with "; " so the error fits one line.
 */
function hmpError(output: string): string | undefined {
  const lines = output.split(/\r?\n/).filter((line) => line !== "");
  const failed = /^(Error: |unknown command: )/.test(lines[0] ?? "") ||
    lines.some((line) => /^Try "help .*" for more information$/.test(line));
  return failed ? lines.join("; ") : undefined;
}

/** Runs one line of HMP; prints its output, or throws QEMU's error text. */
async function runHmp(commandLine: string): Promise<void> {
  const output = await qmp.hmp(commandLine, { timeout });
  const error = hmpError(output);
  if (error !== undefined) throw new Error(error);
  console.log(output.replace(/\r?\n$/, ""));
}

/** Runs one line of qmp-shell syntax or raw JSON; prints the reply. */
async function runQmp(line: string): Promise<void> {
  const command = parseCommandLine(line)!;
  console.log(show(await qmp.execute(command.command, command.arguments, { timeout })));
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
let lineNumber = 0;
for await (const line of rl) {
  lineNumber++;
  const text = line.trim();
  const [word, rest] = splitFirstWord(text);
  try {
    if ((word === ".hmp" || word === ".qmp") && rest === "") {
      hmp = word === ".hmp";
      setPrompt();
    } else if (word === ".hmp") {
      await runHmp(rest);
    } else if (word === ".qmp") {
      await runQmp(rest);
    } else if (text === ".help") {
      console.log(
        [
          "command key=value ...   run a QMP command; file.driver=file makes nested objects",
          "{JSON}                  run a raw QMP command",
          ".hmp / .qmp             switch to the human monitor / back to QMP",
          ".hmp LINE / .qmp LINE   run one line in the other mode",
          "Tab completes command and argument names; Up/Down recall history; Ctrl-D quits",
          'HMP output that starts with "Error: " or "unknown command: " counts as failed',
        ].join("\n"),
      );
    } else if (text.startsWith(".")) {
      throw new Error(
        `Cannot run ${JSON.stringify(word)}: the shell knows .hmp, .qmp and .help`,
      );
    } else if (text !== "" && !text.startsWith("#")) {
      if (hmp) await runHmp(text);
      else await runQmp(text);
    }
  } catch (error) {
    failures++;
    const message = error instanceof QmpError
      ? `${error.errorClass}: ${error.desc}`
      : (error as Error).message;
    console.error(
      interactive ? `error: ${message}` : `qmp-shell: line ${lineNumber}: ${text}: ${message}`,
    );
  }
  if (interactive) rl.prompt();
}
await qmp.close();
if (interactive) console.log();
Deno.exit(failures > 0 ? 1 : 0);
