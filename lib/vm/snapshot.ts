/**
 * Internal snapshots of a running VM (its RAM, devices and qcow2 disks), with QEMU's
 * `snapshot-save`, `snapshot-load` and `snapshot-delete` jobs.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { checkValue } from "./qemu_opts.ts";
import { newJobId, runJob } from "./_job.ts";

/** Options of `Vm.saveSnapshot`, `Vm.loadSnapshot` and `Vm.deleteSnapshot`. */
export interface SnapshotOptions extends WaitOptions {}

/** A snapshot stored in the VM's disks. */
export interface SnapshotInfo {
  /** Its name. */
  tag: string;
  /** Bytes of VM state (RAM and devices) it holds. */
  vmStateSize: number;
  /** When it was taken. */
  date: Date;
  /** The guest's running time when it was taken, in nanoseconds. */
  vmClockNs: number;
}

interface Disk {
  device: string;
  node: string;
  format: string;
  readOnly: boolean;
  snapshots: SnapshotInfo[];
}

async function disks(qmp: QmpClient): Promise<Disk[]> {
  const blocks = await qmp.execute("query-block");
  const found: Disk[] = [];
  for (const block of blocks) {
    const inserted = block.inserted;
    if (inserted === undefined) continue;
    found.push({
      // The name the user gave: the drive's id (its node name under -blockdev), else the
      // device's.
      device: block.device || inserted["node-name"] ||
        /\/peripheral\/([^/]+)/.exec(block.qdev ?? "")?.[1] || (block.qdev ?? ""),
      node: inserted["node-name"] ?? block.device,
      format: inserted.image.format,
      readOnly: inserted.ro,
      snapshots: (inserted.image.snapshots ?? []).map((s) => ({
        tag: s.name,
        vmStateSize: s["vm-state-size"],
        date: new Date(s["date-sec"] * 1000 + s["date-nsec"] / 1e6),
        vmClockNs: s["vm-clock-sec"] * 1e9 + s["vm-clock-nsec"],
      })),
    });
  }
  return found;
}

function checkTag(action: string, tag: string): void {
  if (typeof tag !== "string" || tag === "") {
    throw new TypeError(`Cannot ${action} snapshot ${JSON.stringify(tag)}: the tag is empty`);
  }
  checkValue(`snapshot tag`, tag);
}

/**
 * The writable disks a snapshot covers, and the one that holds the VM state: all must be qcow2.
 */
async function snapshotDisks(
  qmp: QmpClient,
  action: string,
  tag: string,
): Promise<{ vmstate: string; devices: string[]; all: Disk[] }> {
  const all = await disks(qmp);
  const writable = all.filter((disk) => !disk.readOnly);
  const raw = writable.filter((disk) => disk.format !== "qcow2");
  if (raw.length > 0) {
    throw new TypeError(
      `Cannot ${action} snapshot "${tag}": disk ${
        raw.map((d) => `"${d.device}" (${d.format})`).join(", ")
      } cannot hold snapshots; only qcow2 can (convert with qemu-img convert -O qcow2, or attach it read-only)`,
    );
  }
  if (writable.length === 0) {
    throw new TypeError(
      `Cannot ${action} snapshot "${tag}": the VM has no writable qcow2 disk to hold its state; add one with .drive(file, { format: "qcow2" })`,
    );
  }
  return { vmstate: writable[0].node, devices: writable.map((d) => d.node), all };
}

/** Saves the VM's state and disks under `tag`, replacing nothing: the tag must be new. */
export async function saveSnapshot(
  qmp: QmpClient,
  tag: string,
  options: SnapshotOptions = {},
): Promise<SnapshotInfo> {
  checkTag("save", tag);
  checkTimeout(`save snapshot "${tag}"`, options.timeout);
  const { vmstate, devices, all } = await snapshotDisks(qmp, "save", tag);
  const holder = all.find((disk) => disk.node === vmstate)!;
  if (holder.snapshots.some((s) => s.tag === tag)) {
    throw new TypeError(
      `Cannot save snapshot "${tag}": a snapshot of that name exists; delete it first or pick another tag`,
    );
  }
  await runJob(qmp, "snapshot-save", { "job-id": newJobId("save"), tag, vmstate, devices }, {
    timeout: options.timeout ?? 120_000,
    signal: options.signal,
    what: `save snapshot "${tag}"`,
  });
  const saved = (await disks(qmp)).find((disk) => disk.node === vmstate)?.snapshots
    .find((s) => s.tag === tag);
  if (saved === undefined) {
    throw new Error(
      `Cannot save snapshot "${tag}": QEMU reported success but lists no such snapshot`,
    );
  }
  return saved;
}

/** Restores the VM to snapshot `tag`; a running VM goes on running from there. */
export async function loadSnapshot(
  qmp: QmpClient,
  tag: string,
  options: SnapshotOptions = {},
): Promise<void> {
  checkTag("load", tag);
  checkTimeout(`load snapshot "${tag}"`, options.timeout);
  const { vmstate, devices, all } = await snapshotDisks(qmp, "load", tag);
  if (!all.find((disk) => disk.node === vmstate)!.snapshots.some((s) => s.tag === tag)) {
    throw new RangeError(`Cannot load snapshot "${tag}": there is no snapshot of that name`);
  }
  await runJob(qmp, "snapshot-load", { "job-id": newJobId("load"), tag, vmstate, devices }, {
    timeout: options.timeout ?? 120_000,
    signal: options.signal,
    what: `load snapshot "${tag}"`,
  });
}

/** Deletes snapshot `tag` from every disk that has it. */
export async function deleteSnapshot(
  qmp: QmpClient,
  tag: string,
  options: SnapshotOptions = {},
): Promise<void> {
  checkTag("delete", tag);
  checkTimeout(`delete snapshot "${tag}"`, options.timeout);
  const holders = (await disks(qmp)).filter((disk) => disk.snapshots.some((s) => s.tag === tag));
  if (holders.length === 0) {
    throw new RangeError(`Cannot delete snapshot "${tag}": there is no snapshot of that name`);
  }
  await runJob(
    qmp,
    "snapshot-delete",
    { "job-id": newJobId("delete"), tag, devices: holders.map((d) => d.node) },
    {
      timeout: options.timeout ?? 60_000,
      signal: options.signal,
      what: `delete snapshot "${tag}"`,
    },
  );
}

/** The snapshots of the disk that holds VM state (the first writable qcow2 disk). */
export async function listSnapshots(qmp: QmpClient): Promise<SnapshotInfo[]> {
  const writable = (await disks(qmp)).filter((disk) => !disk.readOnly && disk.format === "qcow2");
  return writable[0]?.snapshots ?? [];
}
