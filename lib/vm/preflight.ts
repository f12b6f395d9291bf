/**
 * Preflight: checks a VM description against the installed QEMU (machine type, devices, object
 * types, CPU model, accelerator) before anything starts, and lists everything missing at once.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { QemuVersion } from "../qmp/client.ts";
import { type MissingFeature, VmCheckError } from "./errors.ts";
import { probeQemu } from "./probe.ts";

/** What {@linkcode preflight} found: everything the VM uses exists. */
export interface PreflightReport {
  /** The QEMU binary checked. */
  binary: string;
  /** Its version. */
  version: QemuVersion;
  /** The machine type, as QEMU resolves an alias (`q35` → `pc-q35-7.2`). */
  machine: string;
  /** Device drivers the VM uses. */
  devices: string[];
  /** Object types the VM uses. */
  objects: string[];
}

/** The parts of a QEMU command line that name things QEMU must have. */
export interface Needs {
  /** The machine type, when named. */
  machine?: string;
  /** Device drivers (`-device`). */
  devices: string[];
  /** QOM object types (`-object`). */
  objects: string[];
  /** The CPU model, when named. */
  cpu?: string;
  /** Accelerators (`-accel`). */
  accels: string[];
}

function head(value: string, key: string): string {
  if (value.startsWith("{")) {
    // The JSON form (`-device {"driver":...}`), as vmkit writes it.
    try {
      const parsed = JSON.parse(value) as Record<string, unknown>;
      if (typeof parsed[key] === "string") return parsed[key] as string;
    } catch {
      // Not JSON after all: QEMU will say so; read it as an option list.
    }
  }
  const first = value.split(",")[0];
  if (!first.includes("=")) return first;
  const pair = value.split(",").find((part) => part.startsWith(`${key}=`));
  return pair?.slice(key.length + 1) ?? first;
}

/**
 * Reads what a QEMU command line needs: `-machine`, `-device`, `-object`, `-cpu`, `-accel`.
 *
 * @param argv The arguments, without the binary.
 * @returns The names it uses.
 */
export function needsOf(argv: readonly string[]): Needs {
  const needs: Needs = { devices: [], objects: [], accels: [] };
  for (let i = 0; i < argv.length - 1; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case "-machine":
      case "-M":
        needs.machine = head(value, "type");
        break;
      case "-device":
        needs.devices.push(head(value, "driver"));
        break;
      case "-object":
        needs.objects.push(head(value, "qom-type"));
        break;
      case "-cpu":
        needs.cpu = value.split(",")[0];
        break;
      case "-accel":
        needs.accels.push(head(value, "accel"));
        break;
    }
  }
  needs.devices = [...new Set(needs.devices)];
  needs.objects = [...new Set(needs.objects)];
  return needs;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function similar(name: string, known: Iterable<string>): string[] {
  const lower = name.toLowerCase();
  return [...known]
    .map((candidate) => ({ candidate, d: distance(lower, candidate.toLowerCase()) }))
    .filter(({ candidate, d }) =>
      d <= Math.max(2, Math.floor(name.length / 4)) || candidate.toLowerCase().startsWith(lower)
    )
    .sort((a, b) => a.d - b.d || (a.candidate < b.candidate ? -1 : 1))
    .slice(0, 3)
    .map(({ candidate }) => candidate);
}

/**
 * Checks that the installed QEMU has everything a command line uses, with a throwaway
 * `-machine none` QEMU (about 70 ms).
 *
 * @param binary The QEMU binary.
 * @param argv The arguments, without the binary.
 * @param options Time limit (default 10 s) and signal.
 * @returns What was found.
 * @throws {VmCheckError} Listing everything missing.
 */
export async function preflight(
  binary: string,
  argv: readonly string[],
  options: WaitOptions = {},
): Promise<PreflightReport> {
  checkTimeout("check the VM", options.timeout);
  const needs = needsOf(argv);
  await using probe = await probeQemu(binary, options);
  const qmp = probe.qmp;
  const wait = { timeout: options.timeout ?? 10_000, signal: options.signal };
  const [machines, types, accels, cpus] = await Promise.all([
    qmp.execute("query-machines", undefined, wait),
    qmp.execute("qom-list-types", { abstract: false }, wait),
    qmp.execute("qom-list-types", { implements: "accel", abstract: false }, wait),
    // Not every target lists CPU models; then the CPU is not checked.
    qmp.execute("query-cpu-definitions", undefined, wait).catch(() => undefined),
  ]);
  const missing: MissingFeature[] = [];
  const add = (kind: MissingFeature["kind"], name: string, known: Iterable<string>) =>
    missing.push({ kind, name, similar: similar(name, known) });

  let machine = needs.machine ?? "";
  if (needs.machine !== undefined) {
    const found = machines.find((m) => m.name === needs.machine || m.alias === needs.machine);
    if (found === undefined) {
      add(
        "machine",
        needs.machine,
        machines.flatMap((m) => m.alias ? [m.name, m.alias] : [m.name]),
      );
    } else machine = found.name;
  }
  const typeNames = new Set(types.map((t) => t.name));
  for (const device of needs.devices) {
    if (!typeNames.has(device)) add("device", device, typeNames);
  }
  for (const object of needs.objects) {
    if (!typeNames.has(object)) add("object", object, typeNames);
  }
  if (cpus !== undefined && needs.cpu !== undefined && needs.cpu !== "host") {
    const names = cpus.map((c) => c.name);
    if (!names.includes(needs.cpu)) add("cpu", needs.cpu, names);
  }
  const accelNames = accels.map((a) => a.name.replace(/-accel$/, ""));
  for (const accel of needs.accels) {
    if (!accelNames.includes(accel)) add("accel", accel, accelNames);
  }
  if (missing.length > 0) throw new VmCheckError(binary, missing);
  return {
    binary,
    version: qmp.version,
    machine,
    devices: needs.devices,
    objects: needs.objects,
  };
}
