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
import { cliErrorOf } from "../_library_errors.ts";
import { guestCommandWords, shellLineOrArgv } from "../_command_words.ts";
import { shellStatus } from "../_interrupt.ts";
import { pathExists } from "../../_fs.ts";
import { shellQuote } from "../../vm/qemu_opts.ts";
import type { Instance, InstanceVm } from "../../instance/mod.ts";
import { checkInstanceName, instanceDir } from "../../instance/state_dir.ts";
import type { VmDefinition } from "../definition/mod.ts";

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

/** Runs a library call, turning what it throws into a CliError (in the CLI's words). */
async function library<T>(call: () => Promise<T>, exitCode?: number): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw cliErrorOf(error, exitCode);
  }
}

/** Checks an instance name as a usage error. */
function checkName(name: string): string {
  try {
    return checkInstanceName(name);
  } catch (error) {
    throw cliErrorOf(error, EXIT.usage);
  }
}

/**
 * Opens an existing instance. A missing one is a failure (1) naming where instances were looked
 * for; only `start` says how to make one.
 */
async function open(name: string): Promise<Instance> {
  checkName(name);
  const { openInstance } = await instances();
  try {
    return await openInstance(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `${error.message}; vmkit list shows the instances there (XDG_STATE_HOME picks another place)`,
        EXIT.failure,
        { cause: error },
      );
    }
    throw cliErrorOf(error);
  }
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

/** The signals that interrupt a command (the terminal closing is SIGHUP), with their numbers. */
const INTERRUPTS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** Ctrl-C, SIGTERM and SIGHUP as an AbortSignal (aborted with the signal's name) while `work` runs. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const listeners = (Object.keys(INTERRUPTS) as (keyof typeof INTERRUPTS)[]).map((name) => {
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

/** Whether an interruptible's signal was aborted by one of the {@linkcode INTERRUPTS}. */
function interrupted(signal: AbortSignal): boolean {
  return signal.aborted && Object.hasOwn(INTERRUPTS, signal.reason);
}

/** The error of an interrupted command: exit 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). */
function interruptedError(signal: AbortSignal, what: string): CliError {
  const name = signal.reason as keyof typeof INTERRUPTS;
  return new CliError(
    `Interrupted by ${name}: ${what}`,
    name === "SIGINT" ? EXIT.interrupted : 128 + INTERRUPTS[name],
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

/** Prints a failure the way main does, for commands that go on to the next name. */
function report(error: CliError): void {
  Deno.stderr.writeSync(encoder.encode(`vmkit: ${error.message}\n`));
}

/**
 * Runs `work` for each name in turn; a name that fails is reported and the rest still run. One
 * name fails with its own status; several with 1 when any failed. Ctrl-C stops at once.
 */
async function eachName(
  names: string[],
  work: (name: string, signal: AbortSignal) => Promise<void>,
  interruptedWhat: (name: string) => string,
): Promise<void> {
  const failures: CliError[] = [];
  await interruptible(async (signal) => {
    for (const name of names) {
      try {
        await work(name, signal);
      } catch (error) {
        if (interrupted(signal)) throw interruptedError(signal, interruptedWhat(name));
        const failure = cliErrorOf(error);
        if (names.length === 1) throw failure;
        report(failure);
        failures.push(failure);
      }
    }
  });
  if (failures.length > 0) Deno.exitCode = EXIT.failure;
}

// ---------------------------------------------------------------------------------------------
// start, restart

interface StartFlags {
  set?: string[];
  wait: boolean;
  timeout?: number;
}

/** The VM a start boots, checked before anything is stopped or started. */
interface PreparedVm {
  /** The VM; undefined boots what the instance's record saved (a script's builder). */
  vm?: InstanceVm;
  /** Saves the definition as the instance's, once QEMU is up: a failed start keeps the last. */
  save?: (dir: string) => Promise<void>;
}

/**
 * The VM to boot: from FILE, else from the definition saved by an earlier start (with `--set`
 * applied again), else the VM the instance booted last (a script's builder). The definition is
 * loaded and checked, and so are the disks an earlier start made, before anything changes.
 */
async function prepareVm(
  name: string,
  file: string | undefined,
  set: string[],
): Promise<PreparedVm> {
  const dir = instanceDir(name);
  const saved = `${dir}/${DEFINITION_FILE}`;
  const source = file ?? (await pathExists(saved) ? saved : undefined);
  if (source === undefined) {
    if (set.length > 0) {
      throw new CliError(
        `Cannot apply --set to instance "${name}": it has no saved definition (it was started from a script, or never); give the definition file: vmkit start ${name} FILE --set ...`,
        EXIT.usage,
      );
    }
    return {};
  }
  // A DefinitionError goes to main as it is: one line per problem, each with file:line:column.
  const { definitionBuilder, loadDefinition } = await import("../definition/mod.ts");
  const { definition } = await loadDefinition(source, { set });
  await checkKeptDisks(name, dir, definition);
  return {
    vm: (at: string) => definitionBuilder(definition, { diskDir: at, create: true }),
    save: (at: string) =>
      Deno.writeTextFile(
        `${at}/${DEFINITION_FILE}`,
        JSON.stringify(definition, null, 2) + "\n",
        { mode: 0o600 },
      ),
  };
}

/**
 * Refuses a definition whose made disks (size, overlayOf) differ from those an earlier start
 * made and the instance keeps: they are never made again, so a new size or base would be ignored.
 */
async function checkKeptDisks(name: string, dir: string, def: VmDefinition): Promise<void> {
  const disks = def.disks ?? [];
  if (!disks.some((disk) => disk.image === undefined)) return;
  const { madeDiskPath } = await import("../definition/_build.ts");
  const { imageInfo } = await import("../../image/info.ts");
  const { formatSize, parseImageSize } = await import("../../image/_size.ts");
  for (const [i, disk] of disks.entries()) {
    if (disk.image !== undefined) continue;
    const format = disk.overlayOf !== undefined ? "qcow2" : disk.format ?? "qcow2";
    const file = madeDiskPath(dir, i, format);
    if (!(await pathExists(file))) continue;
    const info = await library(() => imageInfo(file, { backingChain: false, timeout: 10_000 }));
    const kept = `its disks[${i}] "${file}", made by its first start and kept since,`;
    const anew = `or delete the instance (vmkit delete ${name}) to make it anew`;
    if (disk.overlayOf !== undefined) {
      const base = info.backing?.fullFilename ?? info.backing?.filename;
      if (base !== disk.overlayOf) {
        throw new CliError(
          `Cannot start instance "${name}" with disks[${i}].overlayOf "${disk.overlayOf}": ${kept} is an overlay of "${base}"; vmkit does not rebase it: keep overlayOf "${base}", rebase the overlay yourself (qemu-img rebase -b ${
            shellQuote(disk.overlayOf)
          } -F qcow2 ${shellQuote(file)}), ${anew}`,
        );
      }
    }
    if (disk.size === undefined) continue;
    const wanted = parseImageSize(`Cannot read disks[${i}].size`, disk.size);
    if (wanted === info.virtualSize) continue;
    const have = formatSize(info.virtualSize);
    throw new CliError(
      wanted > info.virtualSize
        ? `Cannot start instance "${name}" with disks[${i}].size ${disk.size}: ${kept} is ${have}, and vmkit does not resize a kept disk; grow it (vmkit img resize ${
          shellQuote(file)
        } ${disk.size}; the guest's partitions and filesystems stay as they are) and start again, ${anew}`
        : `Cannot start instance "${name}" with disks[${i}].size ${disk.size}: ${kept} is ${have}, more than that, and shrinking a disk drops what is past its new end; write size: ${
          info.virtualSize % 2 ** 30 === 0
            ? `${info.virtualSize / 2 ** 30}G`
            : `${info.virtualSize / 2 ** 20}M`
        } in the definition, ${anew}`,
    );
  }
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

interface StopFlags {
  force?: boolean;
  timeout?: number;
}

async function stopCommand(names: string[], flags: StopFlags) {
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

// ---------------------------------------------------------------------------------------------
// delete, list, info

async function deleteCommand(names: string[], flags: { force?: boolean }) {
  await eachName(
    names,
    async (name) => {
      const instance = await open(name);
      await library(() => instance.delete({ force: flags.force }), EXIT.failure);
      status(`vmkit: deleted instance "${name}"`);
    },
    (name) => `the deletion of instance "${name}" may be half done; run vmkit delete ${name} again`,
  );
}

async function listCommand(flags: { json?: boolean; quiet?: boolean }) {
  const { listInstances } = await import("../../instance/list.ts");
  // --quiet is what shell completion calls on every Tab: it only looks.
  const summaries = await library(() => listInstances({ cleanUp: !flags.quiet }));
  if (flags.json) return printJson(summaries);
  if (flags.quiet) {
    if (summaries.length > 0) {
      Deno.stdout.writeSync(encoder.encode(summaries.map((i) => i.name).join("\n") + "\n"));
    }
    return;
  }
  printTable(
    ["name", "status", "arch", "cpus", "memory", "ssh", "dir"],
    summaries.map((i) =>
      i.status === "broken" ? [i.name, "broken", "-", "-", "-", "-", i.dir] : [
        i.name,
        i.status,
        i.arch,
        String(i.cpus),
        memoryText(i.memoryMiB),
        i.ssh ?? "-",
        i.dir,
      ]
    ),
  );
  if (summaries.some((i) => i.status === "broken")) {
    status("vmkit: a broken instance's record cannot be read; vmkit info NAME says what to do");
  }
}

/** One disk as `info` shows it. */
interface DiskInfo {
  file: string;
  format?: string;
  media?: string;
  readOnly: boolean;
  /** The size the guest sees, when qemu-img could read it. */
  virtualSize?: number;
}

/** The instance's disks, with their sizes (qemu-img reads a running VM's disks too). */
async function disksOf(instance: Instance): Promise<DiskInfo[]> {
  const drives = (await instance.record()).description.drives ?? [];
  if (drives.length === 0) return [];
  const { imageInfo } = await import("../../image/info.ts");
  return await Promise.all(drives.map(async (drive) => {
    const info = await imageInfo(drive.file, { backingChain: false, timeout: 5000 })
      .catch(() => undefined);
    return {
      file: drive.file,
      ...drive.format === undefined && info === undefined
        ? {}
        : { format: drive.format ?? info!.format },
      ...drive.media === undefined ? {} : { media: drive.media },
      readOnly: drive.readOnly === true || drive.media === "cdrom",
      ...info === undefined ? {} : { virtualSize: info.virtualSize },
    };
  }));
}

/** What QEMU says of its VM (paused, running...), or why it cannot say. */
async function vmStatusOf(instance: Instance): Promise<{ vmStatus?: string; qemu?: string }> {
  try {
    await using qmp = await instance.qmp({ timeout: 2000 });
    return { vmStatus: (await qmp.execute("query-status", undefined, { timeout: 2000 })).status };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/SIGSTOP/.test(message)) {
      const pid = /pid (\d+)/.exec(message)?.[1];
      return { qemu: `stopped by SIGSTOP; kill -CONT ${pid}` };
    }
    return { qemu: "its QMP monitor did not answer (another client may hold it)" };
  }
}

/** What `vmkit info` shows of an instance whose record can be read. */
async function instanceInfo(instance: Instance): Promise<Record<string, unknown>> {
  const record = await instance.record();
  const state = await instance.status();
  const running = state.status === "running";
  const vm = running ? await vmStatusOf(instance) : {};
  const last = record.lastStart;
  const sshPort = last?.sshPort;
  return {
    name: record.name,
    status: state.status,
    ...vm,
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
    disks: await disksOf(instance),
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

/** What `vmkit info` shows of an instance whose record cannot be read, and what to do. */
async function brokenInfo(instance: Instance, problem: string): Promise<Record<string, unknown>> {
  const state = await instance.status();
  const saved = await pathExists(`${instance.dir}/${DEFINITION_FILE}`);
  const name = instance.name;
  return {
    name,
    status: "broken",
    problem,
    fix: [
      saved
        ? `vmkit start ${name} writes the record anew from the definition its last start saved, keeping its disks`
        : `vmkit start ${name} FILE writes the record anew from a definition, keeping its disks`,
      `vmkit delete --force ${name} removes the instance, disks included`,
      ...state.status === "running" ? [`vmkit stop ${name} stops its QEMU (pid ${state.pid})`] : [],
    ],
    qemu: state.status,
    ...state.pid === undefined ? {} : { pid: state.pid },
    dir: instance.dir,
    files: instance.files,
  };
}

function printFields(lines: [string, string][]): void {
  const width = Math.max(...lines.map(([key]) => key.length));
  Deno.stdout.writeSync(
    encoder.encode(lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n") + "\n"),
  );
}

async function infoCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  let info: Record<string, unknown>;
  try {
    info = await instanceInfo(instance);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw cliErrorOf(error);
    info = await library(() => brokenInfo(instance, error.message));
  }
  if (flags.json) return printJson(info);
  const files = info.files as Record<string, string>;
  if (info.status === "broken") {
    return printFields([
      ["name", String(info.name)],
      ["status", `broken (QEMU ${info.qemu}${info.pid === undefined ? "" : `, pid ${info.pid}`})`],
      ["problem", String(info.problem)],
      ...(info.fix as string[]).map((line) => ["fix", line] as [string, string]),
      ["dir", String(info.dir)],
      ["qemu log", files.qemuLog],
    ]);
  }
  const ssh = info.ssh as { address?: string; user: string; identity: string } | undefined;
  const last = info.lastStart as
    | { at: string; startMs: number; accel: string; command: string[] }
    | undefined;
  const vmStatus = info.vmStatus as string | undefined;
  const qemu = info.qemu as string | undefined;
  const disks = info.disks as DiskInfo[];
  const { formatSize } = await import("../../image/_size.ts");
  printFields([
    ["name", String(info.name)],
    [
      "status",
      `${info.status}${
        qemu !== undefined
          ? ` (QEMU ${qemu})`
          : vmStatus !== undefined && vmStatus !== "running"
          ? ` (VM ${vmStatus})`
          : ""
      }`,
    ],
    ...info.pid === undefined ? [] : [["pid", String(info.pid)] as [string, string]],
    ["arch", String(info.arch)],
    ["cpus", String(info.cpus)],
    ["memory", memoryText(info.memoryMiB as number)],
    ["agent", info.agent ? "yes" : "no"],
    ["ssh", ssh === undefined ? "no" : ssh.address ?? `${ssh.user} (not running)`],
    ...disks.map((disk) =>
      [
        "disk",
        `${disk.file} (${
          [
            disk.format,
            disk.virtualSize === undefined ? undefined : formatSize(disk.virtualSize),
            disk.media === "cdrom" ? "cdrom" : disk.readOnly ? "read-only" : undefined,
          ].filter((part) => part !== undefined).join(", ")
        })`,
      ] as [string, string]
    ),
    ...(info.forwards as { protocol: string; hostPort: number; guestPort: number }[]).map((
      f,
    ) =>
      ["forward", `${f.protocol} 127.0.0.1:${f.hostPort} -> guest ${f.guestPort}`] as [
        string,
        string,
      ]
    ),
    ["created", String(info.created)],
    ...last === undefined ? [] : [
      ["last start", `${last.at} (${last.accel}, QMP after ${last.startMs} ms)`] as [
        string,
        string,
      ],
      ["command", last.command.map(shellQuote).join(" ")] as [string, string],
    ],
    ["dir", String(info.dir)],
    ["console log", files.consoleLog],
    ["qemu log", files.qemuLog],
  ]);
}

// ---------------------------------------------------------------------------------------------
// exec, ssh, cp

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

/**
 * Whether a client is attached to one of the instance's sockets (QMP `query-chardev` names a
 * listening socket `disconnected:unix:PATH,server=on` while nobody is), when QMP can tell.
 */
async function socketTaken(instance: Instance, socket: string): Promise<boolean> {
  try {
    await using qmp = await instance.qmp({ timeout: 2000 });
    const chardevs = await qmp.execute("query-chardev", undefined, { timeout: 2000 });
    return chardevs.some((c) => c.filename === `unix:${socket},server=on`);
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
  if (await socketTaken(instance, instance.files.consoleSocket)) {
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
    Deno.stderr.writeSync(
      encoder.encode(
        `vmkit: the console of "${name}" closed: QEMU exited (the guest powered off)\n`,
      ),
    );
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

async function qmpCommand(
  name: string,
  command: string,
  words: string[],
  flags: { timeout?: number },
) {
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

async function eventsCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const { lockInstance } = await import("../../instance/_lock.ts");
  const { EVENTS_LOCK_FILE } = await import("../../instance/_files.ts");
  const { InstanceBusyError } = await import("../../instance/errors.ts");
  const monitor = "a QEMU monitor serves one client at a time, and a second would hear nothing";
  let lock: Disposable;
  try {
    lock = await lockInstance(instance.dir, name, "events", EVENTS_LOCK_FILE);
  } catch (error) {
    if (!(error instanceof InstanceBusyError)) throw cliErrorOf(error);
    throw new CliError(
      `Cannot listen to the events of instance "${name}": another vmkit events is attached to it${
        error.holderPid === undefined ? "" : ` (pid ${error.holderPid})`
      }; ${monitor}; end that one first`,
    );
  }
  using _lock = lock;
  if (
    (await instance.status()).status === "running" &&
    await socketTaken(instance, instance.files.eventsSocket)
  ) {
    throw new CliError(
      `Cannot listen to the events of instance "${name}": another client (a script) is attached to its events monitor ("${instance.files.eventsSocket}"); ${monitor}; end that one first`,
    );
  }
  await interruptible(async (signal) => {
    try {
      await using qmp = await instance.qmp({ monitor: "events", signal });
      status(`vmkit: events of instance "${name}" (Ctrl-C to stop)`);
      for await (const event of qmp.events({ signal })) {
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
      if (!interrupted(signal)) throw cliErrorOf(error, EXIT.failure);
    }
    if (interrupted(signal)) throw interruptedError(signal, "stopped listening");
    // The events end when QEMU does.
    status(`vmkit: instance "${name}" stopped: its QEMU exited`);
  });
}

async function snapshotCommand(
  action: "save" | "load" | "delete",
  name: string,
  tag: string,
  flags: { timeout?: number },
) {
  const instance = await open(name);
  // A missing or taken tag, a disk that cannot hold snapshots: the operation failed (1); the
  // command line was right.
  await library(async () => {
    const options = { timeout: flags.timeout };
    if (action === "save") await instance.saveSnapshot(tag, options);
    else if (action === "load") await instance.loadSnapshot(tag, options);
    else await instance.deleteSnapshot(tag, options);
  }, EXIT.failure);
  status(`vmkit: snapshot "${tag}" of "${name}": ${action === "save" ? "saved" : `${action}ed`}`);
}

async function snapshotListCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const snapshots = await library(() => instance.snapshots(), EXIT.failure);
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

function examples(lines: string[], notes?: string): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join("\n")}\n\n${
    notes === undefined ? "" : `${notes}\n\n`
  }${STATE}`;
}

const START_NOTES =
  `A start that fails keeps the instance as its last good start left it: its saved definition
and record are replaced only once QEMU runs, and QEMU's own message is shown. Disks the
definition makes (size, overlayOf) are made by the first start and kept; a FILE that changes
their size or base is refused, saying how to resize or rebase them.
Ctrl-C before QEMU is up stops it: the instance is not started (a new one is not made). Ctrl-C
while waiting for the guest leaves the instance running, and says how to stop it. Either way
vmkit exits with 130.`;

function registerLifecycle(program: Command): void {
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
  program.command("delete")
    .alias("rm")
    .summary("delete stopped instances: their state directory, disks and keys")
    .description(
      "Delete each instance named: its state directory with its disks, keys, logs and saved definition. A running instance is refused unless --force, which quits its QEMU first (the guest is not asked). Every instance named is handled; one that cannot be is reported, and vmkit exits with 1.",
    )
    .argument("<names...>", "instances to delete")
    .option("-f, --force", "delete running (or broken) instances too: QEMU is quit first")
    .addHelpText(
      "after",
      examples(["vmkit delete web", "vmkit delete --force web db", "vmkit rm $(vmkit list -q)"]),
    )
    .action((names: string[], flags: { force?: boolean }) => deleteCommand(names, flags));
}

function registerViews(program: Command): void {
  program.command("list")
    .alias("ls")
    .summary("list the instances (dead QEMUs are found and cleaned up)")
    .description(
      "List the instances with their status (running, stopped, or broken: a record that cannot be read, the reason in --json and vmkit info), architecture, CPUs, memory and ssh address. An instance whose QEMU died (kill -9, a crash) reads as stopped, and the sockets it left are removed.",
    )
    .option("--json", "a JSON array on stdout")
    .option("-q, --quiet", "names only, one per line")
    .addHelpText(
      "after",
      examples([
        "vmkit list",
        "vmkit list --json | jq -r '.[] | select(.status == \"running\") | .name'",
        "vmkit list -q",
      ]),
    )
    .action((flags: { json?: boolean; quiet?: boolean }) => listCommand(flags));
  program.command("info")
    .summary("show an instance: status, resources, disks, ssh, forwards, files, last command line")
    .description(
      "Show instance NAME: whether its QEMU runs (and whether its VM is paused), its CPUs, memory, disks with their sizes, guest agent, ssh address, forwarded ports, the QEMU command line of its last start (shell-quoted) and its files. For a broken instance, what is wrong and what to do.",
    )
    .argument("<name>", "the instance")
    .option("--json", "JSON on stdout")
    .addHelpText(
      "after",
      examples([
        "vmkit info web",
        "vmkit info web --json | jq -r '.ssh.address'",
        "vmkit info web --json | jq -r '.lastStart.command | @sh'",
      ]),
    )
    .action((name: string, flags: { json?: boolean }) => infoCommand(name, flags));
}

const EXEC_NOTES =
  `CMD runs through the guest agent when the VM has one, else over ssh. One word is a shell
command line (sh -c 'echo $HOSTNAME; ls'); several words are a program and its arguments.
vmkit's options go before NAME: everything after NAME is the command, -- before it optional.
vmkit exits with CMD's status (128+N when signal N killed it), or 125 when it could not run it.`;

function registerAccess(program: Command): void {
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
  program.command("console")
    .summary("attach to an instance's serial console; Ctrl-] detaches, the VM runs on")
    .description(
      "Attach this terminal to the serial console of instance NAME: keys go to the guest, its output comes here. Ctrl-] detaches and leaves the VM running. The console is the guest's own: Ctrl-C goes to the guest, and Ctrl-D or exit ends the guest's shell like on a real serial line (on the tiny guest, whose init runs that shell, that powers the instance off). Piped input is typed into the console, and vmkit detaches once the guest goes quiet after it.",
    )
    .argument("<name>", "the instance")
    .addHelpText(
      "after",
      examples(
        [
          "vmkit console web",
          "echo 'uname -a' | vmkit console web",
          "vmkit start web --no-wait && vmkit console web",
        ],
        "Only one client can be attached to a console at a time; everything it printed is in the\ninstance's console.log too.",
      ),
    )
    .action((name: string) => consoleCommand(name));
}

function registerQmp(program: Command): void {
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
  program.command("events")
    .summary("print an instance's QMP events as they come, until Ctrl-C")
    .description(
      "Print the QMP events of instance NAME as they come (STOP, RESUME, SHUTDOWN, DEVICE_DELETED...), one a line, until Ctrl-C (exit 130) or QEMU exits. They come from a second monitor, so vmkit qmp works meanwhile; one vmkit events at a time can listen to an instance.",
    )
    .argument("<name>", "the instance")
    .option("--json", "one JSON object per line")
    .addHelpText(
      "after",
      examples(["vmkit events web", "vmkit events web --json | jq -r .event"]),
    )
    .action((name: string, flags: { json?: boolean }) => eventsCommand(name, flags));
  const snapshot = program.command("snapshot")
    .summary("save, load, list and delete an instance's snapshots (qcow2 disks)")
    .description(
      "Snapshots of a running instance: its memory, devices and qcow2 disks, kept inside its first writable qcow2 disk. save and load need it running; list and delete work on a stopped one too (with qemu-img).",
    )
    .addHelpText(
      "after",
      examples([
        "vmkit snapshot save web clean",
        "vmkit snapshot list web",
        "vmkit snapshot load web clean",
        "vmkit snapshot delete web clean",
      ]),
    );
  const actions = {
    save: [
      "save the running instance as snapshot TAG (a new tag)",
      "Save instance NAME's memory, devices and disks as snapshot TAG; it runs on. Every writable disk must be qcow2. A tag that exists is refused (exit 1).",
      ["vmkit snapshot save web clean", "vmkit snapshot save --timeout 10m web big"],
    ],
    load: [
      "bring the running instance back to snapshot TAG",
      "Bring running instance NAME back to snapshot TAG: memory, devices and disks as they were; it runs on from there. A stopped instance is refused: start it first.",
      ["vmkit snapshot load web clean"],
    ],
    delete: [
      "delete snapshot TAG (through QEMU, or qemu-img when stopped)",
      "Delete snapshot TAG from every disk of instance NAME that has it: through QEMU while it runs, else with qemu-img.",
      ["vmkit snapshot delete web clean"],
    ],
  } as const;
  for (const [action, [summary, description, lines]] of Object.entries(actions)) {
    snapshot.command(action)
      .summary(summary)
      .description(description)
      .argument("<name>", "the instance")
      .argument("<tag>", "the snapshot's name")
      .option("--timeout <seconds>", "time for the job (default 120)", seconds)
      .addHelpText("after", examples([...lines]))
      .action((name: string, tag: string, flags: { timeout?: number }) =>
        snapshotCommand(action as keyof typeof actions, name, tag, flags)
      );
  }
  snapshot.command("list")
    .summary("list the snapshots of an instance (a stopped one's are read with qemu-img)")
    .description(
      "List the snapshots of instance NAME: tag, size of the saved memory and devices, date, and the guest's clock then. A stopped instance's disk is read with qemu-img.",
    )
    .argument("<name>", "the instance")
    .option("--json", "a JSON array on stdout")
    .addHelpText(
      "after",
      examples(["vmkit snapshot list web", "vmkit snapshot list web --json | jq -r '.[].tag'"]),
    )
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
