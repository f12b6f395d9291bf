/**
 * What an instance keeps about itself in its state directory (`instance.json`): the VM it boots,
 * and what its last start found (command line, forwarded ports, ssh login), for the commands
 * that come later from other processes.
 *
 * @module
 */

import type { Arch } from "../vm/arch.ts";
import type { VmDescription } from "../vm/description.ts";
import type { UsernetForward } from "../ssh/forwarded_port.ts";
import { parseSize } from "../vm/size.ts";
import { RECORD_FILE } from "./_files.ts";
import { readTextIfExists } from "../_fs.ts";

/** How to log into an instance over ssh: what its `.ssh()` device prepared. */
export interface InstanceSshLogin {
  /** The user to log in as. */
  user: string;
  /** The private key file. */
  identity: string;
  /** The known_hosts file with the guest's host key (filed under `hostKeyAlias`). */
  knownHostsFile: string;
  /** The name the host key is filed under. */
  hostKeyAlias: string;
  /**
   * Whether the seed gave the guest its host key (then `knownHostsFile` is written before
   * boot); otherwise it is learned from cloud-init's lines in the console log.
   */
  hostKeyGiven: boolean;
}

/** What one start of an instance ran and found. */
export interface InstanceStart {
  /** When QEMU was started (ISO 8601). */
  at: string;
  /** The QEMU binary. */
  binary: string;
  /** QEMU's arguments, `-daemonize` included. */
  argv: string[];
  /** The accelerator used. */
  accel: "kvm" | "tcg";
  /** QEMU's pid. */
  pid: number;
  /** The user networks' host forwards, with the ports the OS picked for host port 0. */
  forwards: UsernetForward[];
  /** The host port forwarded to the guest's port 22, when the VM has one. */
  sshPort?: number;
  /** Milliseconds from starting QEMU to QMP answering. */
  startMs: number;
}

/** The record of an instance, `instance.json` in its state directory. */
export interface InstanceRecord {
  /** Format version: 1. */
  version: 1;
  /** The instance's name. */
  name: string;
  /** When it was first started (ISO 8601). */
  created: string;
  /** The VM as `VmBuilder.toJSON()` describes it: what a start without a builder boots. */
  description: VmDescription;
  /** Guest architecture. */
  arch: Arch;
  /** CPUs. */
  cpus: number;
  /** Memory in MiB. */
  memoryMiB: number;
  /** Whether the VM has the guest agent's channel (`qga.sock`). */
  agent: boolean;
  /** The ssh login, once a start prepared it (VMs with `.ssh()`). */
  ssh?: InstanceSshLogin;
  /** The last start, once QEMU came up. */
  lastStart?: InstanceStart;
}

/**
 * CPUs and memory (MiB) of a description, as QEMU gets them (1 CPU and 128 MiB unless set).
 *
 * @param description A VM description.
 * @returns CPUs and MiB.
 */
export function descriptionSize(description: VmDescription): { cpus: number; memoryMiB: number } {
  const smp = description.smp;
  const cpus = smp === undefined ? 1 : typeof smp === "number" ? smp : smp.cpus ?? 1;
  const memory = description.memory;
  const size = memory === undefined
    ? 128 * 2 ** 20
    : parseSize("memory", typeof memory === "object" ? memory.size : memory);
  return { cpus, memoryMiB: Math.round(size / 2 ** 20) };
}

/**
 * Reads an instance's record.
 *
 * @param dir The instance's state directory.
 * @returns The record, or `undefined` when there is none.
 * @throws {SyntaxError} When the file is not the JSON vmkit wrote (the message says what to do).
 */
export async function readInstanceRecord(dir: string): Promise<InstanceRecord | undefined> {
  const text = await readTextIfExists(`${dir}/${RECORD_FILE}`);
  if (text === undefined) return undefined;
  const name = dir.slice(dir.lastIndexOf("/") + 1);
  const broken = (why: string, cause?: unknown) =>
    new SyntaxError(
      `Cannot read the record of instance "${name}" ("${dir}/${RECORD_FILE}"): ${why}; start the instance from its definition to write it anew, keeping its disks (vmkit start ${name} FILE), or delete the instance (vmkit delete --force ${name})`,
      { cause },
    );
  let record: InstanceRecord;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw broken(`it is not JSON (${(error as Error).message})`, error);
  }
  if (
    record?.version !== 1 || typeof record.name !== "string" ||
    typeof record.description !== "object" || record.description === null ||
    typeof record.arch !== "string" || typeof record.cpus !== "number" ||
    typeof record.memoryMiB !== "number"
  ) {
    throw broken("it is not a vmkit instance record (version 1)");
  }
  return record;
}

/**
 * Writes an instance's record whole: a new file renamed over the old one, so a reader never
 * sees half of it.
 *
 * @param dir The instance's state directory.
 * @param record The record.
 * @returns When written.
 */
export async function writeInstanceRecord(dir: string, record: InstanceRecord): Promise<void> {
  const path = `${dir}/${RECORD_FILE}`;
  const temporary = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(temporary, path);
}
