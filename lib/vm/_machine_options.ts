// Checks of the machine-level options (memory, SMP, machine type, CPU, kernel, fw_cfg), shared
// by the builder's methods and `VmBuilder.fromJSON`.

import { checkCount, checkPath } from "./_checks.ts";
import {
  checkArray,
  checkEnum,
  checkInteger,
  checkRecord,
  defined,
  optionalBoolean,
} from "./_validate.ts";
import { checkOptionHead, checkValue, escapeOptionValue } from "./qemu_opts.ts";
import { parseSize } from "./size.ts";

/** SMP topology, validated as QEMU would. */
export interface SmpOptions {
  /** CPUs online at boot. */
  cpus: number;
  /** Sockets. */
  sockets?: number;
  /** Cores per socket. */
  cores?: number;
  /** Threads per core. */
  threads?: number;
  /** CPUs possible after hotplug. */
  maxcpus?: number;
}

/** Where guest RAM comes from (`-object memory-backend-*`). */
export interface MemoryBackend {
  /**
   * `"ram"`: anonymous memory (QEMU's default); `"memfd"`: anonymous memory another process can
   * map (vhost-user, virtiofs); `"file"`: a file, or a file in a directory such as a hugetlbfs
   * mount.
   */
  type: "ram" | "memfd" | "file";
  /** For `"file"`: the file or directory. */
  path?: string;
  /** Map it shared, so vhost-user backends can reach guest memory. */
  share?: boolean;
  /** Allocate all of it at start. */
  prealloc?: boolean;
  /** For `"memfd"`: back it with huge pages. */
  hugepages?: boolean;
}

/** Options of `VmBuilder.memory`. */
export interface MemoryOptions {
  /** DIMM slots for memory hot-add. */
  slots?: number;
  /** The most memory the guest may reach with hot-added DIMMs, such as `"1G"`. */
  max?: string | number;
  /** Where guest RAM comes from; default QEMU's anonymous RAM. */
  backend?: MemoryBackend;
}

/** Options of `VmBuilder.kernel`. */
export interface KernelOptions {
  /** Initial ramdisk. */
  initrd?: string;
  /** Kernel command line; the fast profile puts its own options (quiet, console) first. */
  append?: string;
}

/** A firmware configuration entry: a host file or a string. */
export type FwCfgEntry = { name: string } & ({ file: string } | { string: string });

/** Memory size and hotplug room, in MiB. */
export interface MemorySetting {
  /** Memory at boot, in MiB. */
  memory?: number;
  /** DIMM slots and the most memory, in MiB. */
  memoryHotplug?: { slots: number; max: number };
  /** The backend. */
  memoryBackend?: MemoryBackend;
}

const MIB = 2 ** 20;

/** Checks `.memory(size, { slots, max })`. */
export function parseMemory(size: string | number, options: MemoryOptions): MemorySetting {
  const memory = parseSize("memory", size) / MIB;
  const memoryBackend = options.backend === undefined
    ? undefined
    : parseMemoryBackend(options.backend);
  if ((options.slots === undefined) !== (options.max === undefined)) {
    throw new TypeError(
      `Cannot set memory hotplug with only ${
        options.slots === undefined ? "max" : "slots"
      }: give both slots and max`,
    );
  }
  if (options.slots === undefined) return { memory, memoryHotplug: undefined, memoryBackend };
  const slots = checkCount("memory slots", options.slots);
  if (slots > 256) {
    throw new RangeError(`Cannot set memory slots to ${slots}: use a whole number from 1 to 256`);
  }
  const max = parseSize("memory max", options.max!) / MIB;
  if (max <= memory) {
    throw new RangeError(
      `Cannot set memory max ${JSON.stringify(options.max)}: it must be more than the memory (${
        JSON.stringify(size)
      })`,
    );
  }
  return { memory, memoryHotplug: { slots, max }, memoryBackend };
}

/** Checks `.smp(cpus | topology)`. */
export function parseSmp(smp: number | SmpOptions): SmpOptions {
  if (typeof smp !== "number" && (typeof smp !== "object" || smp === null)) {
    throw new TypeError(
      `Cannot set smp to ${
        JSON.stringify(smp)
      }: use a CPU count (a number) or { cpus, sockets, cores, threads, maxcpus }`,
    );
  }
  const options = typeof smp === "number" ? { cpus: smp } : { ...smp };
  checkCount("smp cpus", options.cpus);
  for (const key of ["sockets", "cores", "threads", "maxcpus"] as const) {
    if (options[key] !== undefined) checkCount(`smp ${key}`, options[key]);
  }
  const max = options.maxcpus ?? options.cpus;
  if (options.cpus > max) {
    throw new RangeError(`Cannot set smp cpus ${options.cpus}: more than maxcpus ${max}`);
  }
  const { sockets, cores, threads } = options;
  if (sockets !== undefined && cores !== undefined && threads !== undefined) {
    if (sockets * cores * threads !== max) {
      throw new RangeError(
        `Cannot set smp topology: sockets ${sockets} × cores ${cores} × threads ${threads} = ${
          sockets * cores * threads
        }, not maxcpus ${max}`,
      );
    }
  } else if (sockets !== undefined || cores !== undefined || threads !== undefined) {
    const product = (sockets ?? 1) * (cores ?? 1) * (threads ?? 1);
    if (max % product !== 0) {
      throw new RangeError(
        `Cannot set smp topology: ${max} CPUs do not divide into the given sockets/cores/threads (${product})`,
      );
    }
  }
  return options;
}

/** Checks `.machine(type, props)`. */
export function parseMachine(
  type: string,
  props: Record<string, string>,
): { type: string; props: Record<string, string> } {
  checkOptionHead("machine type", type, "pass properties in the second argument");
  if (typeof props !== "object" || props === null) {
    throw new TypeError(`Cannot set machine properties to ${String(props)}: expected an object`);
  }
  for (const [key, value] of Object.entries(props)) {
    if (!/^[a-z][a-z0-9_.-]*$/i.test(key)) {
      throw new TypeError(`Cannot set machine property ${JSON.stringify(key)}`);
    }
    escapeOptionValue(`machine property ${key}`, value);
  }
  return { type, props: { ...props } };
}

/** Checks `.cpu(model)`: a name, then `key=value`, `+feature` or `-feature` properties. */
export function parseCpu(model: string): string {
  checkValue("cpu", model);
  const [name, ...props] = model.split(",");
  checkOptionHead("cpu model", name, 'add properties after it: "max,pmu=off"');
  for (const prop of props) {
    if (!/^([+-]?[A-Za-z0-9_.-]+|[A-Za-z0-9_.-]+=[^=]+)$/.test(prop)) {
      throw new TypeError(
        `Cannot set cpu ${JSON.stringify(model)}: property ${
          JSON.stringify(prop)
        } is not key=value, +feature or -feature`,
      );
    }
  }
  return model;
}

/** Checks `.kernel(path, options)`. */
export function parseKernel(
  path: string,
  options: KernelOptions,
): { path: string } & KernelOptions {
  checkPath("kernel path", path);
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot set kernel options to ${String(options)}: expected an object`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "initrd" && key !== "append") {
      throw new TypeError(
        `Cannot set kernel option ${JSON.stringify(key)}: use "initrd" and "append"`,
      );
    }
  }
  if (options.initrd !== undefined) checkPath("initrd", options.initrd);
  if (options.append !== undefined) checkValue("kernel append", options.append);
  return { path, ...options };
}

/** Checks one `.fwCfg(name, content)` entry against the ones already added. */
export function parseFwCfg(
  name: string,
  content: { file: string } | { string: string },
  existing: readonly FwCfgEntry[],
): FwCfgEntry {
  checkValue("fw_cfg name", name);
  if (!/^opt\/[A-Za-z0-9_.\/-]+$/.test(name) || name.length > 55) {
    throw new RangeError(
      `Cannot add fw_cfg entry ${
        JSON.stringify(name)
      }: names start with "opt/", use letters, digits, "_", ".", "/", "-" and are at most 55 bytes`,
    );
  }
  if (existing.some((entry) => entry.name === name)) {
    throw new RangeError(`Cannot add fw_cfg entry "${name}" twice`);
  }
  if (typeof content !== "object" || content === null) {
    throw new TypeError(`Cannot add fw_cfg entry "${name}": give { file } or { string }`);
  }
  if ("file" in content) return { name, file: checkPath(`fw_cfg "${name}" file`, content.file) };
  if ("string" in content) {
    return { name, string: checkValue(`fw_cfg "${name}" string`, content.string) };
  }
  throw new TypeError(`Cannot add fw_cfg entry "${name}": give { file } or { string }`);
}

/** Checks a memory backend. */
export function parseMemoryBackend(backend: unknown): MemoryBackend {
  const v = checkRecord("memory backend", backend, [
    "type",
    "path",
    "share",
    "prealloc",
    "hugepages",
  ]);
  const parsed: MemoryBackend = defined({
    type: checkEnum("memory backend type", v.type, ["ram", "memfd", "file"]),
    path: v.path === undefined ? undefined : checkPath("memory backend path", v.path as string),
    share: optionalBoolean("memory backend share", v.share),
    prealloc: optionalBoolean("memory backend prealloc", v.prealloc),
    hugepages: optionalBoolean("memory backend hugepages", v.hugepages),
  });
  if ((parsed.type === "file") !== (parsed.path !== undefined)) {
    throw new TypeError(
      parsed.type === "file"
        ? `Cannot use memory backend "file" without a path: give the file, or a directory such as a hugetlbfs mount`
        : `Cannot give a path to memory backend "${parsed.type}": only "file" takes one`,
    );
  }
  if (parsed.hugepages && parsed.type !== "memfd") {
    throw new TypeError(
      `Cannot set hugepages on memory backend "${parsed.type}": use "memfd", or "file" with a path on a hugetlbfs mount`,
    );
  }
  return parsed;
}

/** A NUMA node: its CPUs and memory. */
export interface NumaNode {
  /** CPU indexes of the node. */
  cpus: number[];
  /** Its memory, such as `"512M"`. */
  memory: string | number;
}

/** Checks NUMA nodes: each CPU in one node at most; memory sizes in MiB. */
export function parseNuma(nodes: unknown): { cpus: number[]; memory: number }[] {
  const list = checkArray("numa nodes", nodes);
  if (list.length === 0 || list.length > 128) {
    throw new RangeError(`Cannot set ${list.length} NUMA nodes: use 1 to 128`);
  }
  const seen = new Set<number>();
  return list.map((node, i) => {
    const v = checkRecord(`numa node ${i}`, node, ["cpus", "memory"]);
    const cpus = checkArray(`numa node ${i} cpus`, v.cpus).map((cpu) =>
      checkInteger(`numa node ${i} cpu`, cpu, 0, 4095)
    );
    for (const cpu of cpus) {
      if (seen.has(cpu)) throw new RangeError(`Cannot put cpu ${cpu} in two NUMA nodes`);
      seen.add(cpu);
    }
    return { cpus, memory: parseSize(`numa node ${i} memory`, v.memory as string) / MIB };
  });
}
