/**
 * A VM as plain data: what `VmBuilder.toJSON()` writes and `VmBuilder.fromJSON()` reads back,
 * checked field by field with errors that name the path of the bad field (`drives[1].cache`).
 *
 * @module
 */

import type { AccelRequest } from "./accel.ts";
import { EMPTY_STATE, type VmState } from "./_vm_state.ts";
import { type Arch, type ArchProfile, archProfile } from "./arch.ts";
import type { VmProfile } from "./machine.ts";
import {
  type FwCfgEntry,
  type KernelOptions,
  type MemoryBackend,
  type NumaNode,
  parseCpu,
  parseFwCfg,
  parseKernel,
  parseMachine,
  parseMemory,
  parseNuma,
  parseSmp,
  type SmpOptions,
} from "./_machine_options.ts";
import {
  type Firmware,
  type GlobalProperty,
  type ObjectDescription,
  parseFirmware,
  parseGlobal,
  parseObject,
  parseRtc,
  parseSmbios,
  parseUser,
  parseUuid,
  type RtcOptions,
  type SmbiosEntry,
} from "./_platform_options.ts";
import { type DriveDescription, parseDrive } from "./devices/disk.ts";
import { type NetworkDescription, parseNetwork } from "./devices/network.ts";
import { type ChardevDescription, parseChardev } from "./devices/chardev.ts";
import { type Device, DEVICE_KINDS } from "./devices/_registry.ts";
import {
  checkArray,
  checkEnum,
  checkInteger,
  checkRecord,
  checkString,
  type Field,
  optionalBoolean,
  pathField,
  rethrowWithin,
} from "./_validate.ts";
import { checkPath, checkSocketPath } from "./_checks.ts";
import { checkValue } from "./qemu_opts.ts";

/** A VM as plain, JSON-serialisable data. */
export interface VmDescription {
  /** Guest architecture. */
  arch: Arch;
  /** `"fast"` (default) or `"classic"`. */
  profile?: VmProfile;
  /** `"auto"` (default), `"kvm"` or `"tcg"`. */
  accel?: AccelRequest;
  /** QEMU binary, a path or a name on PATH. */
  binary?: string;
  /** Guest name (`-name`). */
  name?: string;
  /** Machine type and properties. */
  machine?: { type: string; props?: Record<string, string> };
  /** CPU model with properties. */
  cpu?: string;
  /**
   * Memory: a size (`"256M"`, or MiB as a number), or with DIMM slots and the most memory, and
   * where it comes from.
   */
  memory?: string | number | {
    size: string | number;
    slots?: number;
    max?: string | number;
    backend?: MemoryBackend;
  };
  /** NUMA nodes. */
  numa?: NumaNode[];
  /** Lock guest memory into host RAM (`-overcommit mem-lock=on`). */
  memLock?: boolean;
  /** Firmware: `{ bios }`, or flash `{ code, vars?, varsTemplate? }`. */
  firmware?: Firmware;
  /** SMBIOS entries. */
  smbios?: SmbiosEntry[];
  /** Real-time clock. */
  rtc?: RtcOptions;
  /** Name QEMU's process after the guest (`-name process=`). */
  processName?: boolean;
  /** Where QEMU writes its pid. */
  pidFile?: string;
  /** A file that gets everything the console (serial port 0) prints, as well as `vm.console`. */
  consoleLog?: string;
  /** QOM objects (`-object`): iothreads, secrets, memory backends... */
  objects?: ObjectDescription[];
  /** The VM's UUID (`-uuid`). */
  uuid?: string;
  /** QEMU's seccomp sandbox (`-sandbox on` with every deny). */
  sandbox?: boolean;
  /** Device property defaults (`-global`). */
  globals?: GlobalProperty[];
  /** QEMU's own log file (`-D`). */
  qemuLog?: string;
  /** Stop instead of exiting when the guest powers off (`-no-shutdown`). */
  noShutdown?: boolean;
  /** Run QEMU as this user once it has opened its files and sockets (`-runas`). */
  runAs?: string;
  /** CPU count or topology. */
  smp?: number | SmpOptions;
  /** A kernel booted directly. */
  kernel?: { path: string } & KernelOptions;
  /** Disks, in order. */
  drives?: DriveDescription[];
  /** Network cards, or `"none"` to make sure there is none. */
  networks?: NetworkDescription[] | "none";
  /** Character devices. */
  chardevs?: ChardevDescription[];
  /** Chardev ids of serial ports after vmkit's console. */
  serials?: string[];
  /** Firmware configuration entries. */
  fwCfg?: FwCfgEntry[];
  /** Extra QMP monitor sockets. */
  qmpSockets?: string[];
  /** Other devices, told apart by `kind`. */
  devices?: Device[];
  /** PCIe root ports for hotplug. */
  hotplugSlots?: number;
  /** Wait for an incoming migration. */
  incoming?: boolean;
  /** Start with the CPUs stopped. */
  paused?: boolean;
  /** Exit instead of rebooting. */
  noReboot?: boolean;
  /** No default devices. */
  nodefaults?: boolean;
  /** Ignore QEMU's config files. */
  noUserConfig?: boolean;
  /** Raw QEMU arguments after vmkit's. */
  args?: string[];
}

const KEYS = [
  "arch",
  "profile",
  "accel",
  "binary",
  "name",
  "machine",
  "cpu",
  "memory",
  "numa",
  "memLock",
  "firmware",
  "smbios",
  "rtc",
  "processName",
  "pidFile",
  "consoleLog",
  "objects",
  "uuid",
  "sandbox",
  "globals",
  "qemuLog",
  "noShutdown",
  "runAs",
  "smp",
  "kernel",
  "drives",
  "networks",
  "chardevs",
  "serials",
  "fwCfg",
  "qmpSockets",
  "devices",
  "hotplugSlots",
  "incoming",
  "paused",
  "noReboot",
  "nodefaults",
  "noUserConfig",
  "args",
] as const;

/** Prefixes an error from a field's check with the description it was read from. */
function at<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    rethrowWithin(`Cannot read VM description: ${path}: `, error);
  }
}

function list<T>(
  v: Record<string, unknown>,
  key: string,
  item: (value: unknown, path: string, index: number) => T,
): T[] {
  if (v[key] === undefined) return [];
  return at(key, () => checkArray(key, v[key])).map((value, i) =>
    at(`${key}[${i}]`, () => item(value, `${key}[${i}]`, i))
  );
}

function parseMemoryField(value: unknown): Pick<VmState, "memory" | "memoryHotplug"> {
  if (typeof value === "object" && value !== null) {
    const m = checkRecord("memory", value, ["size", "slots", "max", "backend"]);
    return parseMemory(m.size as string, {
      slots: m.slots as number,
      max: m.max as string,
      backend: m.backend as MemoryBackend,
    });
  }
  return parseMemory(value as string, {});
}

function parseDevice(value: unknown, field: Field, arch: Readonly<ArchProfile>): Device {
  const kinds = Object.keys(DEVICE_KINDS) as Device["kind"][];
  const kind = checkEnum(field("kind"), (value as { kind?: unknown } | null)?.kind, kinds);
  const definition = DEVICE_KINDS[kind];
  const v = checkRecord(field("options"), value, ["kind", ...definition.keys]);
  return definition.parse(v, field, arch) as Device;
}

/** Checks that a kind a VM has one of (vsock, watchdog, tpm...) is there once. */
function checkSingles(devices: Device[]): Device[] {
  const seen = new Map<string, number>();
  devices.forEach((device, i) => {
    if (!DEVICE_KINDS[device.kind].single) return;
    const first = seen.get(device.kind);
    if (first !== undefined) {
      throw new TypeError(
        `Cannot read VM description: devices[${i}]: a VM has one ${device.kind} device, and devices[${first}] is one already`,
      );
    }
    seen.set(device.kind, i);
  });
  return devices;
}

/** Checks the machine-level fields of a description into a state. */
function parseMachineFields(v: Record<string, unknown>): Partial<VmState> {
  const state: Record<string, unknown> = {};
  const flag = (key: string) => at(key, () => optionalBoolean(key, v[key]));
  if (v.profile !== undefined) {
    state.profile = at("profile", () => checkEnum("profile", v.profile, ["fast", "classic"]));
  }
  if (v.accel !== undefined) {
    state.accel = at("accel", () => checkEnum("accel", v.accel, ["auto", "kvm", "tcg"]));
  }
  if (v.binary !== undefined) {
    state.binary = at("binary", () => checkPath("binary", v.binary as string));
  }
  if (v.name !== undefined) state.name = at("name", () => checkString("name", v.name));
  if (v.machine !== undefined) {
    state.machine = at("machine", () => {
      const m = checkRecord("machine", v.machine, ["type", "props"]);
      return parseMachine(m.type as string, (m.props ?? {}) as Record<string, string>);
    });
  }
  if (v.cpu !== undefined) state.cpu = at("cpu", () => parseCpu(v.cpu as string));
  if (v.memory !== undefined) Object.assign(state, at("memory", () => parseMemoryField(v.memory)));
  if (v.smp !== undefined) state.smp = at("smp", () => parseSmp(v.smp as number));
  if (v.numa !== undefined) state.numa = at("numa", () => parseNuma(v.numa));
  if (v.firmware !== undefined) state.firmware = at("firmware", () => parseFirmware(v.firmware));
  if (v.rtc !== undefined) state.rtc = at("rtc", () => parseRtc(v.rtc));
  if (v.uuid !== undefined) state.uuid = at("uuid", () => parseUuid(v.uuid));
  if (v.runAs !== undefined) state.runAs = at("runAs", () => parseUser(v.runAs));
  for (const key of ["pidFile", "consoleLog", "qemuLog"] as const) {
    if (v[key] !== undefined) state[key] = at(key, () => checkPath(key, v[key] as string));
  }
  if (v.kernel !== undefined) {
    state.kernel = at("kernel", () => {
      const { path, ...options } = checkRecord("kernel", v.kernel, ["path", "initrd", "append"]);
      return parseKernel(path as string, options as KernelOptions);
    });
  }
  if (v.hotplugSlots !== undefined) {
    state.hotplugSlots = at(
      "hotplugSlots",
      () => checkInteger("hotplugSlots", v.hotplugSlots, 0, 32),
    );
  }
  for (
    const key of [
      "incoming",
      "paused",
      "noReboot",
      "nodefaults",
      "noUserConfig",
      "memLock",
      "processName",
      "sandbox",
      "noShutdown",
    ]
  ) {
    const value = flag(key);
    if (value !== undefined) state[key] = value;
  }
  return state as Partial<VmState>;
}

/**
 * Checks a description and turns it into an architecture and a builder state.
 *
 * @param value The description, such as parsed JSON or YAML.
 * @returns The architecture and the state.
 * @throws {TypeError} Naming the path of the first bad field.
 * @throws {RangeError} Naming the path of the first value out of range.
 */
export function parseDescription(value: unknown): { arch: Arch; state: VmState } {
  const v = at("description", () => checkRecord("the description", value, KEYS));
  const arch = at("arch", () => archProfile(v.arch as string).arch);
  const profile = archProfile(arch);
  const drives = list(v, "drives", (d, path, i) => parseDrive(d, pathField(path), `drive${i}`));
  const none = v.networks === "none";
  const networks = none ? [] : list(v, "networks", (n, path) => parseNetwork(n, pathField(path)));
  const fwCfg: FwCfgEntry[] = [];
  for (const entry of list(v, "fwCfg", (e) => e as FwCfgEntry)) {
    const { name, ...content } = entry as FwCfgEntry;
    fwCfg.push(at(`fwCfg[${fwCfg.length}]`, () => parseFwCfg(name, content as never, fwCfg)));
  }
  const state: VmState = {
    ...EMPTY_STATE,
    ...parseMachineFields(v),
    drives,
    networks,
    networkNone: none,
    chardevs: list(v, "chardevs", (c, path) => {
      const { id, ...options } = checkRecord(path, c, [
        "id",
        "backend",
        "path",
        "server",
        "wait",
        "append",
      ]);
      return { id: id as string, options: parseChardev(id as string, options, pathField(path)) };
    }),
    serials: list(v, "serials", (s, path) => checkString(path, s)),
    fwCfg,
    qmpSockets: list(v, "qmpSockets", (s, path) => checkSocketPath(path, s as string)),
    devices: checkSingles(
      list(v, "devices", (d, path) => parseDevice(d, pathField(path), profile)),
    ),
    smbios: list(v, "smbios", (e) => parseSmbios(e)),
    objects: list(v, "objects", (o) => parseObject(o)),
    globals: list(v, "globals", (g) => parseGlobal(g)),
    extra: list(v, "args", (a, path) => checkValue(path, a as string)),
  };
  return { arch, state };
}

/**
 * Writes a state as a description: only what was set, sizes as strings.
 *
 * @param arch The architecture.
 * @param s The state.
 * @returns The description.
 */
export function toDescription(arch: Arch, s: VmState): VmDescription {
  const d: VmDescription = { arch };
  if (s.profile !== "fast") d.profile = s.profile;
  if (s.accel !== "auto") d.accel = s.accel;
  if (s.binary !== undefined) d.binary = s.binary;
  if (s.name !== undefined) d.name = s.name;
  if (s.machine !== undefined) d.machine = { type: s.machine.type, props: { ...s.machine.props } };
  if (s.cpu !== undefined) d.cpu = s.cpu;
  if (s.memoryHotplug !== undefined) {
    d.memory = {
      size: `${s.memory ?? 128}M`,
      slots: s.memoryHotplug.slots,
      max: `${s.memoryHotplug.max}M`,
    };
  } else if (s.memory !== undefined) d.memory = `${s.memory}M`;
  if (s.memoryBackend !== undefined) {
    const size = typeof d.memory === "object" ? d.memory : { size: `${s.memory ?? 128}M` };
    d.memory = { ...size, backend: { ...s.memoryBackend } };
  }
  if (s.numa !== undefined) {
    d.numa = s.numa.map((node) => ({ cpus: [...node.cpus], memory: `${node.memory}M` }));
  }
  if (s.memLock) d.memLock = true;
  if (s.firmware !== undefined) d.firmware = { ...s.firmware };
  if (s.smbios.length > 0) d.smbios = structuredClone(s.smbios) as SmbiosEntry[];
  if (s.rtc !== undefined) d.rtc = { ...s.rtc };
  if (s.processName) d.processName = true;
  if (s.pidFile !== undefined) d.pidFile = s.pidFile;
  if (s.consoleLog !== undefined) d.consoleLog = s.consoleLog;
  if (s.objects.length > 0) d.objects = structuredClone(s.objects) as ObjectDescription[];
  if (s.uuid !== undefined) d.uuid = s.uuid;
  if (s.sandbox) d.sandbox = true;
  if (s.globals.length > 0) d.globals = s.globals.map((g) => ({ ...g }));
  if (s.qemuLog !== undefined) d.qemuLog = s.qemuLog;
  if (s.noShutdown) d.noShutdown = true;
  if (s.runAs !== undefined) d.runAs = s.runAs;
  if (s.smp !== undefined) d.smp = { ...s.smp };
  if (s.kernel !== undefined) d.kernel = { ...s.kernel };
  if (s.drives.length > 0) d.drives = s.drives.map((drive) => ({ ...drive }));
  if (s.networkNone) d.networks = "none";
  else if (s.networks.length > 0) d.networks = structuredClone(s.networks) as NetworkDescription[];
  if (s.chardevs.length > 0) d.chardevs = s.chardevs.map((c) => ({ id: c.id, ...c.options }));
  if (s.serials.length > 0) d.serials = [...s.serials];
  if (s.fwCfg.length > 0) d.fwCfg = s.fwCfg.map((e) => ({ ...e }));
  if (s.qmpSockets.length > 0) d.qmpSockets = [...s.qmpSockets];
  if (s.devices.length > 0) d.devices = structuredClone(s.devices) as Device[];
  if (s.hotplugSlots > 0) d.hotplugSlots = s.hotplugSlots;
  for (const key of ["incoming", "paused"] as const) if (s[key]) d[key] = true;
  for (const key of ["noReboot", "nodefaults", "noUserConfig"] as const) {
    if (s[key] !== undefined) d[key] = s[key];
  }
  if (s.extra.length > 0) d.args = [...s.extra];
  return d;
}
