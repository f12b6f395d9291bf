/**
 * Listing the named instances, with whether each one's QEMU runs. A QEMU that died (kill -9)
 * reads as stopped, and the pid file and sockets it left are removed when no other vmkit holds
 * the instance.
 *
 * @module
 */

import type { Arch } from "../vm/arch.ts";
import { type InstanceDirOptions, instanceStateBase } from "./state_dir.ts";
import type { InstanceStatus } from "./errors.ts";
import { type InstanceRecord, readInstanceRecord } from "./record.ts";
import { qemuState, removeStaleFiles } from "./_reconcile.ts";
import { LOCK_FILE, STALE_FILES } from "./_files.ts";
import { pathExists } from "../_fs.ts";

/** One instance as {@linkcode listInstances} sees it. */
export interface InstanceSummary {
  /** Its name. */
  name: string;
  /** Its state directory. */
  dir: string;
  /** Whether its QEMU runs. */
  status: InstanceStatus;
  /** QEMU's pid, while it runs. */
  pid?: number;
  /** Guest architecture. */
  arch: Arch;
  /** CPUs. */
  cpus: number;
  /** Memory in MiB. */
  memoryMiB: number;
  /** Whether it has the guest agent's channel. */
  agent: boolean;
  /** The ssh address, `user@127.0.0.1:port`, when it has an ssh login and runs. */
  ssh?: string;
}

/**
 * An instance whose record (`instance.json`) cannot be read, as {@linkcode listInstances} sees
 * it: it can still be stopped, deleted (`delete({ force: true })`), or started anew with its VM.
 */
export interface BrokenInstanceSummary {
  /** Its name. */
  name: string;
  /** Its state directory. */
  dir: string;
  /** Always `"broken"`. */
  status: "broken";
  /** What is wrong with its record, and what to do. */
  problem: string;
  /** QEMU's pid, while one runs for it. */
  pid?: number;
}

/** Removes what a dead QEMU left, unless another process holds the instance's lock. */
async function cleanUp(dir: string): Promise<void> {
  let found = false;
  for (const name of STALE_FILES) {
    if (await pathExists(`${dir}/${name}`)) found = true;
  }
  if (!found) return;
  using file = await Deno.open(`${dir}/${LOCK_FILE}`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  // Someone starting or stopping it now owns its files.
  if (!(await file.tryLock(true))) return;
  if ((await qemuState(dir)).status === "stopped") await removeStaleFiles(dir);
}

/** Options of {@linkcode listInstances}. */
export interface ListInstancesOptions extends InstanceDirOptions {
  /**
   * Remove the sockets and pid file a dead QEMU left (default true); false only looks, as shell
   * completion must.
   */
  cleanUp?: boolean;
}

/**
 * Lists the instances, sorted by name, reconciling those whose QEMU died.
 *
 * @param options Where instances live; `cleanUp: false` to only look (shell completion), not
 *   remove what a dead QEMU left.
 * @returns One summary per instance (a {@linkcode BrokenInstanceSummary} for one whose record
 *   cannot be read); an empty list when there is none (or no state directory).
 *
 * @example
 * ```ts
 * import { listInstances } from "@vmkit/vmkit";
 * for (const i of await listInstances()) {
 *   console.log(i.name, i.status, i.status === "broken" ? i.problem : i.ssh ?? "");
 * }
 * ```
 */
export async function listInstances(
  options: ListInstancesOptions = {},
): Promise<(InstanceSummary | BrokenInstanceSummary)[]> {
  const base = instanceStateBase(options);
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(base)) {
      if (entry.isDirectory) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  names.sort();
  const summaries = await Promise.all(names.map(async (name) => {
    const dir = `${base}/${name}`;
    let record: InstanceRecord | undefined;
    try {
      record = await readInstanceRecord(dir);
    } catch (error) {
      const state = await qemuState(dir);
      const broken: BrokenInstanceSummary = {
        name,
        dir,
        status: "broken",
        problem: error instanceof Error ? error.message : String(error),
        ...state.pid === undefined ? {} : { pid: state.pid },
      };
      return broken;
    }
    // A directory without a record is an instance being made (or one a crash left half made).
    if (record === undefined) return undefined;
    const state = await qemuState(dir);
    if (state.status === "stopped" && options.cleanUp !== false) await cleanUp(dir);
    const port = record.lastStart?.sshPort;
    const summary: InstanceSummary = {
      name,
      dir,
      status: state.status,
      ...state.pid === undefined ? {} : { pid: state.pid },
      arch: record.arch,
      cpus: record.cpus,
      memoryMiB: record.memoryMiB,
      agent: record.agent,
      ...state.status === "running" && record.ssh !== undefined && port !== undefined
        ? { ssh: `${record.ssh.user}@127.0.0.1:${port}` }
        : {},
    };
    return summary;
  }));
  return summaries.filter((s) => s !== undefined);
}
