/**
 * The named-instance commands, as Lima's `limactl` has them: `start`, `stop`, `restart`,
 * `delete`, `list`, `info`, `exec`, `ssh`, `cp`, `console`, `qmp`, `events` and `snapshot`. An
 * instance's QEMU runs in the background and outlives the command that started it; its state is
 * in `$XDG_STATE_HOME/vmkit/NAME` (else `~/.local/state/vmkit/NAME`).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../errors.ts";
import { EXIT } from "../exit_codes.ts";
import { printJson, printTable, status } from "../_output.ts";
import { linuxSignalName } from "../../_signals.ts";
import { pathExists } from "../../_fs.ts";
import type { Instance, InstanceVm } from "../../instance/mod.ts";
import { checkInstanceName, instanceDir } from "../../instance/state_dir.ts";

/**
 * The instance library (with QEMU, QMP, agent and ssh clients), loaded by the commands that use
 * it, so `vmkit --help` and `vmkit list` do not wait for it.
 */
const instances = () => import("../../instance/mod.ts");

/** The saved definition of an instance started from a file, in its state directory. */
const DEFINITION_FILE = "definition.json";

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Turns what the library threw into a CliError: bad values are usage (2), the rest 1. */
function cliError(error: unknown, exitCode?: number): CliError {
  if (error instanceof CliError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = exitCode ??
    (error instanceof TypeError || error instanceof RangeError ? EXIT.usage : EXIT.failure);
  return new CliError(message, code, { cause: error });
}

/** Runs a library call, turning what it throws into a CliError. */
async function library<T>(call: () => Promise<T>, exitCode?: number): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw cliError(error, exitCode);
  }
}

/** Checks an instance name as a usage error. */
function checkName(name: string): string {
  try {
    return checkInstanceName(name);
  } catch (error) {
    throw cliError(error, EXIT.usage);
  }
}

/** Opens an existing instance; a missing one is a failure naming how to make it. */
function open(name: string): Promise<Instance> {
  checkName(name);
  return library(async () => (await instances()).openInstance(name));
}

/** Reads `--timeout`: seconds, or a number with s, m or h. */
function seconds(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(value);
  const factor = { s: 1, m: 60, h: 3600 }[(match?.[2] ?? "s").toLowerCase() as "s" | "m" | "h"];
  const ms = match === null ? NaN : Math.round(Number(match[1]) * factor * 1000);
  if (!(ms >= 0) || ms > 2 ** 31 - 1) {
    throw new CliError(
      `Cannot use --timeout ${
        JSON.stringify(value)
      }: give seconds (90), or a number with s, m or h (5m), under 24 days`,
      EXIT.usage,
    );
  }
  return ms;
}

/** Collects a repeated option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...previous ?? [], value];
}

/** Ctrl-C and SIGTERM as an AbortSignal while `work` runs. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const listeners = (["SIGINT", "SIGTERM"] as const).map((name) => {
    const listener = () => controller.abort(name);
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  try {
    return await work(controller.signal);
  } finally {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  }
}

/** Whether an error is the abort of an interruptible's signal. */
function interrupted(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason === "SIGINT" || signal.reason === "SIGTERM");
}

function interruptedError(signal: AbortSignal, what: string): CliError {
  return new CliError(
    `Interrupted by ${signal.reason as string}: ${what}`,
    signal.reason === "SIGINT" ? EXIT.interrupted : 128 + 15,
  );
}

function secondsText(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function memoryText(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024}GiB` : `${mib}MiB`;
}

async function writeAll(file: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** The exit status of a guest command: its code, or 128+N for signal N. */
function exitStatus(code: number | null, signal: string | null): number {
  if (code !== null) return code;
  for (let n = 1; n <= 64; n++) if (linuxSignalName(n) === signal) return 128 + n;
  return 255;
}

// ---------------------------------------------------------------------------------------------
// start, restart

interface StartFlags {
  set?: string[];
  wait: boolean;
  timeout?: number;
}

/**
 * The VM to boot: from FILE (saved in the state directory as the instance's definition), else
 * from the definition saved by an earlier start (with `--set` applied again), else the VM the
 * instance booted last (a script's builder).
 */
async function instanceVm(
  name: string,
  file: string | undefined,
  set: string[],
): Promise<InstanceVm | undefined> {
  const saved = `${instanceDir(name)}/${DEFINITION_FILE}`;
  const source = file ?? (await pathExists(saved) ? saved : undefined);
  if (source === undefined) {
    if (set.length > 0) {
      throw new CliError(
        `Cannot apply --set to instance "${name}": it has no saved definition (it was started from a script, or never); give the definition file: vmkit start ${name} FILE --set ...`,
        EXIT.usage,
      );
    }
    return undefined;
  }
  const { definitionBuilder, loadDefinition } = await import("../definition/mod.ts");
  const loaded = await library(() => loadDefinition(source, { set }), EXIT.usage);
  return async (dir: string) => {
    await Deno.writeTextFile(
      `${dir}/${DEFINITION_FILE}`,
      JSON.stringify(loaded.definition, null, 2) + "\n",
      { mode: 0o600 },
    );
    return await definitionBuilder(loaded.definition, { diskDir: dir, create: true });
  };
}

async function startCommand(name: string, file: string | undefined, flags: StartFlags) {
  checkName(name);
  const vm = await instanceVm(name, file, flags.set ?? []);
  await interruptible(async (signal) => {
    status(`vmkit: starting instance "${name}"`);
    const started = performance.now();
    let instance: Instance;
    try {
      const { startInstance } = await instances();
      instance = await startInstance(name, vm, { signal, timeout: flags.timeout });
    } catch (error) {
      if (interrupted(signal)) throw interruptedError(signal, `instance "${name}" was not started`);
      throw cliError(error);
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
            `instance "${name}" keeps running; stop it with: vmkit stop ${name}`,
          );
        }
        throw cliError(error, EXIT.failure);
      }
    }
    status(
      `vmkit: instance "${name}" is running: vmkit console ${name}, vmkit exec ${name} -- CMD, vmkit stop ${name}`,
    );
  });
}

interface StopFlags {
  force?: boolean;
  timeout?: number;
}

async function stopCommand(names: string[], flags: StopFlags) {
  for (const name of names) {
    const instance = await open(name);
    await interruptible(async (signal) => {
      status(`vmkit: stopping instance "${name}"`);
      const result = await library(() =>
        instance.stop({ force: flags.force, timeout: flags.timeout, signal })
      );
      status(
        result.method === "already-stopped"
          ? `vmkit: instance "${name}" was not running`
          : `vmkit: instance "${name}" stopped (${result.method}) after ${
            secondsText(result.durationMs)
          }`,
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// delete, list, info

async function deleteCommand(names: string[], flags: { force?: boolean }) {
  for (const name of names) {
    const instance = await open(name);
    await library(() => instance.delete({ force: flags.force }), EXIT.failure);
    status(`vmkit: deleted instance "${name}"`);
  }
}

async function listCommand(flags: { json?: boolean; quiet?: boolean }) {
  const { listInstances } = await import("../../instance/list.ts");
  const summaries = await library(() => listInstances());
  if (flags.json) return printJson(summaries);
  if (flags.quiet) {
    if (summaries.length > 0) {
      Deno.stdout.writeSync(encoder.encode(summaries.map((i) => i.name).join("\n") + "\n"));
    }
    return;
  }
  printTable(
    ["name", "status", "arch", "cpus", "memory", "ssh", "dir"],
    summaries.map((i) => [
      i.name,
      i.status,
      i.arch,
      String(i.cpus),
      memoryText(i.memoryMiB),
      i.ssh ?? "-",
      i.dir,
    ]),
  );
}

/** What `vmkit info` shows. */
async function instanceInfo(instance: Instance): Promise<Record<string, unknown>> {
  const record = await instance.record();
  const state = await instance.status();
  const running = state.status === "running";
  let vmStatus: string | undefined;
  if (running) {
    // Paused, or running: QMP says (unless another client holds its monitor).
    try {
      await using qmp = await instance.qmp({ timeout: 2000 });
      vmStatus = (await qmp.execute("query-status", undefined, { timeout: 2000 })).status;
    } catch {
      vmStatus = undefined;
    }
  }
  const last = record.lastStart;
  const sshPort = last?.sshPort;
  return {
    name: record.name,
    status: state.status,
    ...vmStatus === undefined ? {} : { vmStatus },
    ...state.pid === undefined ? {} : { pid: state.pid },
    dir: instance.dir,
    arch: record.arch,
    cpus: record.cpus,
    memoryMiB: record.memoryMiB,
    agent: record.agent,
    ...record.ssh === undefined ? {} : {
      ssh: {
        ...record.ssh,
        ...running && sshPort !== undefined
          ? { address: `${record.ssh.user}@127.0.0.1:${sshPort}`, port: sshPort }
          : {},
      },
    },
    forwards: running ? last?.forwards ?? [] : [],
    created: record.created,
    ...last === undefined ? {} : {
      lastStart: {
        at: last.at,
        startMs: last.startMs,
        accel: last.accel,
        command: [last.binary, ...last.argv],
      },
    },
    files: instance.files,
  };
}

async function infoCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const info = await library(() => instanceInfo(instance));
  if (flags.json) return printJson(info);
  const files = info.files as Record<string, string>;
  const ssh = info.ssh as { address?: string; user: string; identity: string } | undefined;
  const last = info.lastStart as { at: string; startMs: number; accel: string } | undefined;
  const lines: [string, string][] = [
    ["name", String(info.name)],
    ["status", `${info.status}${info.vmStatus ? ` (${info.vmStatus})` : ""}`],
    ...info.pid === undefined ? [] : [["pid", String(info.pid)] as [string, string]],
    ["arch", String(info.arch)],
    ["cpus", String(info.cpus)],
    ["memory", memoryText(info.memoryMiB as number)],
    ["agent", info.agent ? "yes" : "no"],
    ["ssh", ssh === undefined ? "no" : ssh.address ?? `${ssh.user} (not running)`],
    ...(info.forwards as { protocol: string; hostPort: number; guestPort: number }[]).map((
      f,
    ) =>
      ["forward", `${f.protocol} 127.0.0.1:${f.hostPort} -> guest ${f.guestPort}`] as [
        string,
        string,
      ]
    ),
    ["created", String(info.created)],
    ...last === undefined
      ? []
      : [["last start", `${last.at} (${last.accel}, QMP after ${last.startMs} ms)`] as [
        string,
        string,
      ]],
    ["dir", String(info.dir)],
    ["console log", files.consoleLog],
    ["qemu log", files.qemuLog],
  ];
  const width = Math.max(...lines.map(([key]) => key.length));
  Deno.stdout.writeSync(
    encoder.encode(lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n") + "\n"),
  );
}

// ---------------------------------------------------------------------------------------------
// exec, ssh, cp

interface ExecFlags {
  interactive?: boolean;
  timeout?: number;
}

async function readStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

async function execCommand(name: string, argv: string[], flags: ExecFlags) {
  if (argv.length === 0) {
    throw new CliError(`Cannot run a command in instance "${name}": give it after --`, EXIT.usage);
  }
  const instance = await open(name);
  const record = await library(() => instance.record(), EXIT.guestCommandNotRun);
  if (!record.agent && record.ssh === undefined) {
    throw new CliError(
      `Cannot run a command in instance "${name}": its VM has neither the guest agent nor ssh; add agent: true or ssh: true to its definition`,
      EXIT.guestCommandNotRun,
    );
  }
  const stdin = flags.interactive ? await readStdin() : undefined;
  const code = await interruptible(async (signal) => {
    try {
      if (record.agent) {
        await using agent = await instance.agent();
        const result = await agent.exec(argv, { stdin, signal, timeout: flags.timeout });
        await writeAll(Deno.stdout, encoder.encode(result.stdout));
        await writeAll(Deno.stderr, encoder.encode(result.stderr));
        return exitStatus(result.exitCode, result.signal);
      }
      await using ssh = await instance.ssh();
      const result = await ssh.exec(argv, { stdin, signal, timeout: flags.timeout });
      await writeAll(Deno.stdout, encoder.encode(result.stdout));
      await writeAll(Deno.stderr, encoder.encode(result.stderr));
      return result.exitCode ?? 255;
    } catch (error) {
      if (interrupted(signal)) {
        throw interruptedError(signal, `the command in instance "${name}" was stopped`);
      }
      throw cliError(error, EXIT.guestCommandNotRun);
    }
  });
  Deno.exitCode = code;
}

async function sshCommand(name: string, args: string[]) {
  const instance = await open(name);
  const code = await library(async () => {
    await using ssh = await instance.ssh();
    return await ssh.shell(args.length === 0 ? {} : { command: args });
  });
  Deno.exitCode = code;
}

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
        ? `Cannot copy recursively with instance "${remote.name}": the guest agent copies single files, and its VM has no ssh for scp -r; copy files one by one, or add ssh: true`
        : `Cannot copy with instance "${remote.name}": its VM has neither the guest agent nor ssh; add agent: true or ssh: true to its definition`,
    );
  }
  if ((await instance.status()).status !== "running") {
    throw new CliError(`Cannot copy with instance "${remote.name}": it is stopped; start it first`);
  }
  const { scpArgs } = await import("../../instance/_ssh_login.ts");
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

// ---------------------------------------------------------------------------------------------
// console, qmp, events, snapshot

/** Whether a client is attached to the console socket already (QMP says), when it can tell. */
async function consoleTaken(instance: Instance): Promise<boolean> {
  try {
    await using qmp = await instance.qmp({ timeout: 2000 });
    const chardevs = await qmp.execute("query-chardev", undefined, { timeout: 2000 });
    const console = chardevs.find((c) => c.label === "vmkit-console");
    return console !== undefined && !console.filename.startsWith("disconnected:");
  } catch {
    return false;
  }
}

async function consoleCommand(name: string) {
  const instance = await open(name);
  const state = await instance.status();
  if (state.status !== "running") {
    throw new CliError(
      `Cannot attach to the console of instance "${name}": it is stopped; start it first (vmkit start ${name}); its last output is in ${instance.files.consoleLog}`,
    );
  }
  if (await consoleTaken(instance)) {
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
    Deno.stderr.writeSync(encoder.encode(`vmkit: the console of "${name}" closed (QEMU exited)\n`));
  }
}

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

async function qmpCommand(name: string, command: string, words: string[], flags: ExecFlags) {
  const args = qmpArguments(words);
  const instance = await open(name);
  const { QmpError } = await import("../../qmp/errors.ts");
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
  printJson(reply ?? {});
}

async function eventsCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  await interruptible(async (signal) => {
    await using qmp = await library(() => instance.qmp({ monitor: "events", signal }));
    status(`vmkit: events of instance "${name}" (Ctrl-C to stop)`);
    const events = qmp.events({ signal });
    try {
      for await (const event of events) {
        const { seconds, microseconds } = event.timestamp;
        const at = new Date(seconds * 1000 + microseconds / 1000).toISOString();
        const line = flags.json
          ? JSON.stringify({ event: event.event, data: event.data ?? {}, timestamp: at })
          : `${at} ${event.event}${
            event.data === undefined ? "" : ` ${JSON.stringify(event.data)}`
          }`;
        await writeAll(Deno.stdout, encoder.encode(line + "\n"));
      }
    } catch (error) {
      if (!interrupted(signal)) throw cliError(error);
    }
    if (interrupted(signal)) throw interruptedError(signal, "stopped listening");
  });
}

async function snapshotCommand(
  action: "save" | "load" | "delete",
  name: string,
  tag: string,
  flags: ExecFlags,
) {
  const instance = await open(name);
  await library(async () => {
    const options = { timeout: flags.timeout };
    if (action === "save") await instance.saveSnapshot(tag, options);
    else if (action === "load") await instance.loadSnapshot(tag, options);
    else await instance.deleteSnapshot(tag, options);
  });
  status(`vmkit: snapshot "${tag}" of "${name}": ${action === "save" ? "saved" : `${action}ed`}`);
}

async function snapshotListCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const snapshots = await library(() => instance.snapshots());
  if (flags.json) return printJson(snapshots);
  printTable(
    ["tag", "vm state", "date", "vm clock"],
    snapshots.map((s) => [
      s.tag,
      memoryText(Math.round(s.vmStateSize / 2 ** 20)),
      s.date.toISOString(),
      secondsText(s.vmClockNs / 1e6),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Registration

const STATE = "Instances live in $XDG_STATE_HOME/vmkit/NAME (else ~/.local/state/vmkit/NAME).";

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join("\n")}\n\n${STATE}`;
}

function registerLifecycle(program: Command): void {
  program.command("start")
    .summary("start a named instance in the background")
    .description(
      "Start instance NAME in the background: its QEMU outlives this command. FILE (YAML or JSON) is needed the first time; later starts reuse the saved definition (FILE replaces it). Waits for the guest agent and ssh when the definition has them.",
    )
    .argument("<name>", "the instance's name: letters, digits, -, _ and .")
    .argument("[file]", "the VM definition (the first time)")
    .option("--set <key=value>", "override a definition field (repeatable)", collect)
    .option("--no-wait", "return once QEMU runs, without waiting for the agent or ssh")
    .option("--timeout <seconds>", "time for the start and the wait (default 300)", seconds)
    .addHelpText(
      "after",
      examples([
        "vmkit start web vm.yaml",
        "vmkit start web --set memory=2G",
        "vmkit start web --no-wait && vmkit console web",
      ]),
    )
    .action((name: string, file: string | undefined, flags: StartFlags) =>
      startCommand(name, file, flags)
    );
  program.command("stop")
    .summary("stop instances: the guest powers off, then QEMU quits")
    .description(
      "Ask the guest to power off (through its agent when it answers, else the ACPI power button), then QMP quit, SIGTERM and SIGKILL.",
    )
    .argument("<names...>", "instances to stop")
    .option("-f, --force", "do not ask the guest: QMP quit (disks are flushed), then signals")
    .option("--timeout <seconds>", "time the guest gets to power off (default 30)", seconds)
    .addHelpText("after", examples(["vmkit stop web", "vmkit stop --force web db"]))
    .action((names: string[], flags: StopFlags) => stopCommand(names, flags));
  program.command("restart")
    .summary("stop an instance, then start it again with its saved definition")
    .argument("<name>", "the instance")
    .option("--set <key=value>", "override a definition field (repeatable)", collect)
    .option("--no-wait", "return once QEMU runs")
    .option("--timeout <seconds>", "time the guest gets to power off, and the start", seconds)
    .addHelpText("after", examples(["vmkit restart web", "vmkit restart web --set cpus=4"]))
    .action(async (name: string, flags: StartFlags) => {
      await stopCommand([name], { timeout: flags.timeout });
      await startCommand(name, undefined, flags);
    });
  program.command("delete")
    .alias("rm")
    .summary("delete stopped instances: their state directory, disks and keys")
    .argument("<names...>", "instances to delete")
    .option("-f, --force", "delete running instances too (QEMU is quit first)")
    .addHelpText("after", examples(["vmkit delete web", "vmkit delete --force web"]))
    .action((names: string[], flags: { force?: boolean }) => deleteCommand(names, flags));
}

function registerViews(program: Command): void {
  program.command("list")
    .alias("ls")
    .summary("list the instances (dead QEMUs are found and cleaned up)")
    .option("--json", "a JSON array on stdout")
    .option("-q, --quiet", "names only, one per line")
    .addHelpText("after", examples(["vmkit list", "vmkit list --json | jq -r '.[].name'"]))
    .action((flags: { json?: boolean; quiet?: boolean }) => listCommand(flags));
  program.command("info")
    .summary("show an instance: status, resources, ssh, forwards, files, last command line")
    .argument("<name>", "the instance")
    .option("--json", "JSON on stdout")
    .addHelpText("after", examples(["vmkit info web", "vmkit info web --json"]))
    .action((name: string, flags: { json?: boolean }) => infoCommand(name, flags));
}

function registerAccess(program: Command): void {
  program.command("exec")
    .summary("run a command in an instance (guest agent, else ssh); exit with its status")
    .argument("<name>", "the instance")
    .argument("[command...]", "the command and its arguments, after --")
    .option("-i, --interactive", "pass this command's stdin to the guest command")
    .option("--timeout <seconds>", "kill the command after this long", seconds)
    .addHelpText(
      "after",
      examples(["vmkit exec web -- uname -a", "vmkit exec -i web -- sh -c 'wc -l' < file"]),
    )
    .action((name: string, command: string[], flags: ExecFlags) =>
      execCommand(name, command, flags)
    );
  program.command("ssh")
    .alias("shell")
    .summary("log into an instance over ssh, with its key and known host key")
    .argument("<name>", "the instance")
    .argument("[args...]", "a command to run instead of a login shell, after --")
    .addHelpText("after", examples(["vmkit ssh web", "vmkit ssh web -- sudo journalctl -b"]))
    .action((name: string, args: string[]) => sshCommand(name, args));
  program.command("cp")
    .summary("copy a file to or from an instance (guest agent, else scp)")
    .argument("<source>", "a host path, or NAME:PATH")
    .argument("<target>", "a host path, or NAME:PATH")
    .option("-r, --recursive", "copy directories (scp, needs ssh)")
    .addHelpText(
      "after",
      examples(["vmkit cp ./app.tar web:/tmp/", "vmkit cp web:/var/log/syslog ./syslog"]),
    )
    .action((source: string, target: string, flags: { recursive?: boolean }) =>
      cpCommand(source, target, flags)
    );
  program.command("console")
    .summary("attach to an instance's serial console; Ctrl-] detaches, the VM runs on")
    .argument("<name>", "the instance")
    .addHelpText("after", examples(["vmkit console web", "echo 'uname -a' | vmkit console web"]))
    .action((name: string) => consoleCommand(name));
}

function registerQmp(program: Command): void {
  program.command("qmp")
    .summary("run a QMP command on an instance and print the reply as JSON")
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
      ]),
    )
    .action((name: string, command: string, args: string[], flags: ExecFlags) =>
      qmpCommand(name, command, args, flags)
    );
  program.command("events")
    .summary("print an instance's QMP events as they come, until Ctrl-C")
    .argument("<name>", "the instance")
    .option("--json", "one JSON object per line")
    .addHelpText("after", examples(["vmkit events web", "vmkit events web --json | jq .event"]))
    .action((name: string, flags: { json?: boolean }) => eventsCommand(name, flags));
  const snapshot = program.command("snapshot")
    .summary("save, load, list and delete an instance's snapshots (qcow2 disks)")
    .addHelpText(
      "after",
      examples([
        "vmkit snapshot save web clean",
        "vmkit snapshot list web",
        "vmkit snapshot load web clean",
        "vmkit snapshot delete web clean",
      ]),
    );
  for (const action of ["save", "load", "delete"] as const) {
    snapshot.command(action)
      .summary(`${action} snapshot TAG of a running instance`)
      .argument("<name>", "the instance")
      .argument("<tag>", "the snapshot's name")
      .option("--timeout <seconds>", "time for the job (default 120)", seconds)
      .action((name: string, tag: string, flags: ExecFlags) =>
        snapshotCommand(action, name, tag, flags)
      );
  }
  snapshot.command("list")
    .summary("list the snapshots of an instance (a stopped one's are read with qemu-img)")
    .argument("<name>", "the instance")
    .option("--json", "a JSON array on stdout")
    .action((name: string, flags: { json?: boolean }) => snapshotListCommand(name, flags));
}

/**
 * Adds the named-instance commands: `start`, `stop`, `restart`, `delete`, `list`, `info`,
 * `exec`, `ssh`, `cp`, `console`, `qmp`, `events`, `snapshot`.
 *
 * @param program The `vmkit` program.
 */
export function registerInstanceCommands(program: Command): void {
  registerLifecycle(program);
  registerViews(program);
  registerAccess(program);
  registerQmp(program);
}
