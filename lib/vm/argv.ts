/**
 * The QEMU command line of a VM description: machine options first, then each device's plan.
 * Pure: reads no file.
 *
 * @module
 */

import { type ArchProfile, fastKernelAppend } from "./arch.ts";
import type { ImageFormat } from "./image_format.ts";
import type { VmState } from "./_vm_state.ts";
import type { MemoryBackend } from "./_machine_options.ts";
import { firmwareVarsPath, type SmbiosEntry } from "./_platform_options.ts";
import { checkReferences } from "./_builder_facts.ts";
import { defined } from "./_validate.ts";
import { checkPath } from "./_checks.ts";
import { escapeOptionValue, optionList } from "./qemu_opts.ts";
import { fastKernelBios, machineHotplug, machineTransport, machineType } from "./machine.ts";
import { listening, planArgv, type PlanContext, type Step } from "./devices/_plan.ts";
import type { LaunchFacts } from "./devices/_kind.ts";
import { checkGuestAccess } from "./_guest_access_checks.ts";
import { drivesPlan } from "./devices/disk.ts";
import { networkPlan } from "./devices/network.ts";
import { chardevStep } from "./devices/chardev.ts";
import { DEVICE_KINDS, kindOf } from "./devices/_registry.ts";

/** The console chardev id vmkit uses for serial port 0. */
export const CONSOLE_CHARDEV = "vmkit-console";
/** The QMP chardev id vmkit uses. */
export const QMP_CHARDEV = "vmkit-qmp";

/** Options of `VmBuilder.toArgv`. */
export interface ToArgvOptions {
  /**
   * Directory of the console and QMP sockets, which QEMU connects to (vmkit listens there).
   * Default `"/tmp/vmkit"`; `launch()` uses its own private directory.
   */
  runtimeDir?: string;
  /**
   * The accelerator `auto` resolved to. Without it, `auto` is written as `-accel kvm -accel tcg`
   * (QEMU's own fallback); `launch()` resolves it with `chooseAccel` instead.
   */
  accel?: "kvm" | "tcg";
  /**
   * Formats of drives added without one, by drive id; `launch()` reads them from the files.
   */
  driveFormats?: Readonly<Record<string, ImageFormat>>;
  /**
   * What the devices learned while prepared at launch (a seed server's port); `launch()` passes
   * it. Without it, such values are written as placeholders.
   */
  facts?: LaunchFacts;
  /**
   * QEMU listens on vmkit's sockets (console, QMP, guest agent: `server=on,wait=off`) instead of
   * connecting to vmkit, so the VM outlives the process that started it and anyone may connect
   * later, as a background instance needs. Default false: vmkit listens, and holds every
   * connection from the first byte.
   */
  qemuListens?: boolean;
}

/** The options that describe the machine itself: type, accelerator, CPU, memory, SMP. */
function machineArgs(p: Readonly<ArchProfile>, s: VmState, accel?: "kvm" | "tcg"): string[] {
  const argv: string[] = [];
  if (s.name !== undefined) {
    const process = s.processName ? s.name : undefined;
    argv.push("-name", optionList(undefined, [["guest", s.name, "name"], ["process", process]]));
  }
  const machine = s.machine ??
    { type: machineType(p, { profile: s.profile, machine: undefined }), props: {} };
  argv.push(
    "-machine",
    optionList(escapeOptionValue("machine type", machine.type), [
      ...Object.entries(machine.props),
      ...machineMemoryProps(s),
    ]),
  );
  if (accel === undefined) argv.push("-accel", "kvm", "-accel", "tcg");
  else argv.push("-accel", accel);
  argv.push("-cpu", s.cpu ?? (accel === "kvm" ? p.kvmCpu : accel === "tcg" ? p.tcgCpu : "max"));
  if (s.memory !== undefined || s.memoryHotplug !== undefined) {
    const size = `${s.memory ?? 128}M`;
    const hotplug = s.memoryHotplug;
    argv.push(
      "-m",
      hotplug === undefined
        ? size
        : optionList(size, [["slots", String(hotplug.slots)], ["maxmem", `${hotplug.max}M`]]),
    );
  }
  argv.push(...memoryArgs(s));
  if (s.smp !== undefined) {
    argv.push(
      "-smp",
      optionList(String(s.smp.cpus), [
        ["sockets", s.smp.sockets],
        ["cores", s.smp.cores],
        ["threads", s.smp.threads],
        ["maxcpus", s.smp.maxcpus],
      ]),
    );
  }
  const fast = s.profile === "fast";
  if (s.nodefaults ?? fast) argv.push("-nodefaults");
  if (s.noUserConfig ?? fast) argv.push("-no-user-config");
  if (s.noReboot ?? fast) argv.push("-no-reboot");
  if (s.paused) argv.push("-S");
  if (s.incoming) argv.push("-incoming", "defer");
  argv.push("-display", "none");
  if (s.rtc !== undefined) {
    argv.push(
      "-rtc",
      optionList(undefined, [["base", s.rtc.base], ["clock", s.rtc.clock], [
        "driftfix",
        s.rtc.driftfix,
      ]]),
    );
  }
  for (const entry of s.smbios) argv.push("-smbios", smbiosOption(entry));
  argv.push(...processArgs(s));
  return argv;
}

/** How QEMU's process runs: pid file, log, sandbox, user, UUID, globals, no-shutdown. */
function processArgs(s: VmState): string[] {
  const argv: string[] = [];
  if (s.uuid !== undefined) argv.push("-uuid", s.uuid);
  if (s.pidFile !== undefined) argv.push("-pidfile", s.pidFile);
  if (s.qemuLog !== undefined) argv.push("-D", s.qemuLog);
  if (s.noShutdown) argv.push("-no-shutdown");
  if (s.sandbox) {
    // QEMU installs its sandbox before it changes user: -runas needs set*uid allowed (after
    // it, QEMU has no privileges to raise).
    const elevate = s.runAs === undefined ? "deny" : "allow";
    argv.push(
      "-sandbox",
      `on,obsolete=deny,elevateprivileges=${elevate},spawn=deny,resourcecontrol=deny`,
    );
  }
  if (s.runAs !== undefined) argv.push("-runas", s.runAs);
  for (const g of s.globals) {
    argv.push(
      "-global",
      optionList(undefined, [["driver", g.driver], ["property", g.property], [
        "value",
        g.value,
        `global ${g.driver}.${g.property}`,
      ]]),
    );
  }
  return argv;
}

/** The machine properties that pick guest RAM and firmware flash. */
function machineMemoryProps(s: VmState): [string, string][] {
  const props: [string, string][] = [];
  if (s.memoryBackend !== undefined && s.numa === undefined) {
    props.push(["memory-backend", "vmkit-ram"]);
  }
  if (s.firmware !== undefined && "code" in s.firmware) {
    if (s.firmware.secure) props.push(["smm", "on"]);
    props.push(["pflash0", "vmkit-fw-code"]);
    if (s.firmware.vars !== undefined || s.firmware.varsTemplate !== undefined) {
      props.push(["pflash1", "vmkit-fw-vars"]);
    }
  }
  return props;
}

function backendObject(
  backend: MemoryBackend | undefined,
  id: string,
  mib: number,
): Record<string, unknown> {
  const b = backend ?? { type: "ram" as const };
  return defined({
    "qom-type": `memory-backend-${b.type}`,
    id,
    size: mib * 2 ** 20,
    "mem-path": b.path,
    share: b.share,
    prealloc: b.prealloc,
    hugetlb: b.hugepages,
  });
}

/** Guest RAM's backend, NUMA nodes and memory locking. */
function memoryArgs(s: VmState): string[] {
  const argv: string[] = [];
  if (s.numa !== undefined) {
    const total = s.numa.reduce((sum, node) => sum + node.memory, 0);
    const memory = s.memory ?? 128;
    if (total !== memory) {
      throw new RangeError(
        `Cannot write the NUMA nodes: their memory adds up to ${total} MiB, and the VM has ${memory} MiB; make them equal`,
      );
    }
    const maxcpus = s.smp?.maxcpus ?? s.smp?.cpus ?? 1;
    s.numa.forEach((node, i) => {
      const outside = node.cpus.find((cpu) => cpu >= maxcpus);
      if (outside !== undefined) {
        throw new RangeError(
          `Cannot put cpu ${outside} in NUMA node ${i}: the VM has ${maxcpus} CPUs (0 to ${
            maxcpus - 1
          }); set .smp()`,
        );
      }
      argv.push(
        "-object",
        JSON.stringify(backendObject(s.memoryBackend, `vmkit-numa${i}`, node.memory)),
        "-numa",
        optionList("node", [
          ["nodeid", i],
          ...node.cpus.map((cpu) => ["cpus", cpu] as [string, number]),
          ["memdev", `vmkit-numa${i}`],
        ]),
      );
    });
  } else if (s.memoryBackend !== undefined) {
    argv.push(
      "-object",
      JSON.stringify(backendObject(s.memoryBackend, "vmkit-ram", s.memory ?? 128)),
    );
  }
  if (s.memLock) argv.push("-overcommit", "mem-lock=on");
  return argv;
}

function smbiosOption(entry: SmbiosEntry): string {
  if (entry.type === 11) {
    return optionList("type=11", entry.strings.map((text) => ["value", text, "SMBIOS string"]));
  }
  const { type, ...fields } = entry;
  return optionList(
    `type=${type}`,
    Object.entries(fields).map(([key, value]) => [key, value, `SMBIOS type ${type} ${key}`]),
  );
}

/**
 * The firmware: `-bios`, or the code and variable store flash as block nodes (with a Secure
 * Boot build's secure flash).
 */
function firmwareArgs(s: VmState, runtimeDir: string): string[] {
  const firmware = s.firmware;
  if (firmware === undefined || "builtin" in firmware) return [];
  if ("interface" in firmware) {
    throw new TypeError(
      `Cannot write the command line with firmware "${firmware.interface}" unresolved: it is found in QEMU's firmware descriptors when the VM launches; for toArgv(), use the builder of await builder.resolved()`,
    );
  }
  if ("bios" in firmware) return ["-bios", firmware.bios];
  const node = (id: string, filename: string, readOnly: boolean) => [
    "-blockdev",
    JSON.stringify({
      driver: "raw",
      "node-name": id,
      "read-only": readOnly,
      file: { driver: "file", filename, "read-only": readOnly },
    }),
  ];
  const argv = node("vmkit-fw-code", firmware.code, true);
  const vars = firmwareVarsPath(firmware, runtimeDir);
  if (vars !== undefined) argv.push(...node("vmkit-fw-vars", vars, false));
  if (firmware.secure) argv.push("-global", "driver=cfi.pflash01,property=secure,value=on");
  return argv;
}

/** vmkit's console and QMP sockets, and the extra QMP monitors. */
function monitorArgs(s: VmState, runtimeDir: string, qemuListens?: boolean): string[] {
  const argv = [
    "-chardev",
    optionList("socket", [
      ["id", CONSOLE_CHARDEV],
      ["path", `${runtimeDir}/console.sock`, "runtimeDir"],
      ...listening(qemuListens),
      ["logfile", s.consoleLog, "consoleLog"],
      ["logappend", s.consoleLog === undefined ? undefined : false],
    ]),
    "-serial",
    `chardev:${CONSOLE_CHARDEV}`,
    "-chardev",
    optionList("socket", [
      ["id", QMP_CHARDEV],
      ["path", `${runtimeDir}/qmp.sock`, "runtimeDir"],
      ...listening(qemuListens),
    ]),
    "-mon",
    `chardev=${QMP_CHARDEV},mode=control`,
  ];
  s.qmpSockets.forEach((path, index) => {
    const id = `${QMP_CHARDEV}${index + 1}`;
    argv.push(
      "-chardev",
      optionList("socket", [["id", id], ["path", path, "qmp socket"], ...listening(true)]),
      "-mon",
      `chardev=${id},mode=control`,
    );
  });
  return argv;
}

function kernelArgs(
  p: Readonly<ArchProfile>,
  s: VmState,
  accel?: "kvm" | "tcg",
): string[] {
  if (s.kernel === undefined) return [];
  const argv: string[] = [];
  const bios = s.firmware === undefined
    ? fastKernelBios(p, { profile: s.profile, machine: s.machine?.type })
    : undefined;
  if (bios !== undefined) argv.push("-bios", bios);
  argv.push("-kernel", s.kernel.path);
  if (s.kernel.initrd !== undefined) argv.push("-initrd", s.kernel.initrd);
  const append = s.profile === "fast"
    ? [
      `console=${p.console}`,
      fastKernelAppend(p, { accel, cpus: s.smp?.cpus, maxCpus: s.smp?.maxcpus }),
      s.kernel.append,
    ]
      .filter(Boolean).join(" ")
    : s.kernel.append;
  if (append !== undefined && append !== "") argv.push("-append", append);
  return argv;
}

/** The plans of the devices: disks, network cards, the device list, root ports. */
function devicePlans(s: VmState, ctx: PlanContext, options: ToArgvOptions): Step[] {
  const steps = drivesPlan(s.drives, (drive) => {
    const format = drive.format ?? options.driveFormats?.[drive.id];
    if (format === undefined) {
      throw new TypeError(
        `Cannot write the command line of drive "${drive.id}" ("${drive.file}"): its format is not known; pass .drive(file, { format: "raw" | "qcow2" }), or launch(), which reads it from the file`,
      );
    }
    return format;
  }, ctx);
  if (s.networkNone && !(s.nodefaults ?? s.profile === "fast")) {
    steps.push({ kind: "arg", argv: ["-nic", "none"], why: "no network" });
  }
  s.networks.forEach((network, index) => {
    steps.push(...networkPlan(network, network.id ?? `net${index}`, ctx));
  });
  // Devices appear grouped by kind, in the registry's order, whatever order they were added in.
  const order = Object.keys(DEVICE_KINDS);
  const devices = [...s.devices].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const counts = new Map<string, number>();
  const deviceSteps = (early: boolean) =>
    devices.filter((device) => (kindOf(device).early ?? false) === early).flatMap((device) => {
      const index = counts.get(device.kind) ?? 0;
      counts.set(device.kind, index + 1);
      return kindOf(device).plan(device, ctx, index);
    });
  steps.push(...deviceSteps(true));
  const hotplug = machineHotplug(ctx.arch, ctx.machine, s.hotplugSlots);
  if (s.hotplugSlots > 0 && hotplug.kind === "none") {
    throw new RangeError(`Cannot add hotplug slots: ${hotplug.reason}`);
  }
  if (hotplug.kind === "root-ports") {
    hotplug.ports.forEach((id, index) => {
      steps.push({
        kind: "device",
        args: { driver: "pcie-root-port", id, chassis: index + 1 },
      });
    });
  }
  steps.push(...deviceSteps(false));
  return steps;
}

/** Combinations of machine options and devices that QEMU accepts and the guest cannot use. */
function checkCombinations(p: Readonly<ArchProfile>, s: VmState): void {
  checkGuestAccess(s);
  const seabios = s.firmware === undefined &&
    fastKernelBios(p, { profile: s.profile, machine: s.machine?.type }) === undefined;
  if (
    p.arch === "x86_64" && s.devices.some((d) => d.kind === "tpm") &&
    s.kernel?.initrd !== undefined && seabios
  ) {
    throw new TypeError(
      'Cannot add a TPM to a direct kernel boot with an initrd under SeaBIOS: QEMU 7.2 loads the initrd over the ACPI tables the TPM\'s event log pushes down, and the guest boots without ACPI; use the fast profile on q35 (qboot), .firmware({ bios: "/usr/share/qemu/qboot.rom" }), or boot from a disk',
    );
  }
}

/**
 * The QEMU command line of a description, without the binary.
 *
 * @param p The architecture profile.
 * @param s The description.
 * @param options Runtime directory, resolved accelerator, drive formats, launch facts.
 * @returns The arguments.
 */
export function descriptionArgv(
  p: Readonly<ArchProfile>,
  s: VmState,
  options: ToArgvOptions = {},
): string[] {
  checkReferences(s, "Cannot write the command line");
  checkCombinations(p, s);
  const runtimeDir = checkPath("runtimeDir", options.runtimeDir ?? "/tmp/vmkit");
  const accel = s.accel === "auto" ? options.accel : s.accel;
  const choice = { profile: s.profile, machine: s.machine?.type };
  const ctx: PlanContext = {
    arch: p,
    machine: machineType(p, choice),
    transport: machineTransport(p, choice),
    runtimeDir,
    sharedMemory: s.memoryBackend?.share === true,
    facts: options.facts ?? {},
    qemuListens: options.qemuListens === true,
  };
  const argv = [
    ...machineArgs(p, s, accel),
    ...monitorArgs(s, runtimeDir, options.qemuListens),
    ...firmwareArgs(s, runtimeDir),
    ...kernelArgs(p, s, accel),
    ...s.objects.flatMap((object) => ["-object", JSON.stringify(object)]),
    ...planArgv(devicePlans(s, ctx, options)),
  ];
  for (const entry of s.fwCfg) {
    argv.push(
      "-fw_cfg",
      optionList(undefined, [
        ["name", entry.name, "fw_cfg name"],
        "file" in entry
          ? ["file", entry.file, `fw_cfg "${entry.name}" file`]
          : ["string", entry.string, `fw_cfg "${entry.name}" string`],
      ]),
    );
  }
  argv.push(...planArgv(s.chardevs.map(({ id, options }) => chardevStep(id, options))));
  for (const id of s.serials) argv.push("-serial", `chardev:${id}`);
  argv.push(...s.extra);
  return argv;
}
