/**
 * `vmkit info NAME`: an instance's status, resources, disks, ssh, forwards, files and last
 * command line; for a broken one, what is wrong and what to do.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { printJson } from "../../_output.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import { pathExists } from "../../../_fs.ts";
import { shellQuote } from "../../../vm/qemu_opts.ts";
import type { Instance } from "../../../instance/mod.ts";
import { DEFINITION_FILE, library, open } from "./_instance.ts";
import { encoder, memoryText } from "./_text.ts";
import { examples } from "./_examples.ts";

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
  const { imageInfo } = await import("../../../image/info.ts");
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
  const { formatSize } = await import("../../../image/_size.ts");
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

/**
 * Adds `vmkit info`.
 *
 * @param program The `vmkit` program.
 */
export function registerInfo(program: Command): void {
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
