/**
 * The immutable VM builder: a description of a QEMU machine that turns into an argv.
 *
 * @module
 */

import { type AccelRequest, chooseAccel } from "./accel.ts";
import { type Arch, type ArchProfile, archProfile, type VirtioTransport } from "./arch.ts";
import {
  checkOptionHead,
  checkValue,
  escapeOptionValue,
  optionList,
  shellQuote,
} from "./qemu_opts.ts";
import type { ImageFormat } from "./image_format.ts";
import { type AioMode, blockdevOptions, type CacheMode, writeCacheOff } from "./_blockdev.ts";

export type { AioMode, CacheMode };
import { parseSize } from "./size.ts";
import { detectHostFacts } from "./_host.ts";
import { checkCount, checkId, checkPath, checkSocketPath } from "./_checks.ts";
import { type LaunchOptions, launchVm } from "./launch.ts";
import type { Vm } from "./vm.ts";
import { preflight, type PreflightReport } from "./preflight.ts";
import type { WaitOptions } from "../_deadline.ts";

/** Options of {@linkcode vm}. */
export interface VmOptions {
  /** Guest architecture. */
  arch: Arch;
}

/** `fast` (default): measured to boot a direct kernel fastest. `classic`: QEMU's own defaults. */
export type VmProfile = "fast" | "classic";

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

/** Options of {@linkcode VmBuilder.memory}. */
export interface MemoryOptions {
  /** DIMM slots for memory hot-add. */
  slots?: number;
  /** The most memory the guest may reach with hot-added DIMMs, such as `"1G"`. */
  max?: string | number;
}

/**
 * How a machine hot-adds devices:
 * - `root-ports`: into PCIe root ports made at start (see {@linkcode VmBuilder.hotplugSlots});
 * - `bus`: straight onto its bus (pc's PCI bus, pseries, s390x channel I/O);
 * - `none`: not at all (microvm), with the reason.
 */
export type HotplugKind =
  | { kind: "root-ports"; ports: readonly string[] }
  | { kind: "bus" }
  | { kind: "none"; reason: string };

/** Options of {@linkcode VmBuilder.kernel}. */
export interface KernelOptions {
  /** Initial ramdisk. */
  initrd?: string;
  /** Kernel command line; the fast profile puts its own options (quiet, console) first. */
  append?: string;
}

/** Options of {@linkcode VmBuilder.drive}. */
export interface DriveOptions {
  /**
   * Image format. Default: `launch()` reads it from the file ({@linkcode detectImageFormat}):
   * qcow2 by its magic, else raw; other formats, and qcow2 overlays without a recorded backing
   * format, are refused. `toArgv()` reads no file, so it needs the format given here (or in its
   * `driveFormats` option).
   */
  format?: ImageFormat;
  /** Attach read-only. */
  readOnly?: boolean;
  /** Write to a temporary overlay, discarded on exit. */
  snapshot?: boolean;
  /** Host cache mode. */
  cache?: CacheMode;
  /** Host I/O engine; `native` needs `cache` `none` or `directsync`. */
  aio?: AioMode;
  /** Guest interface. Default `"virtio-blk"`. */
  interface?: "virtio-blk" | "scsi";
  /** Run the disk's I/O in its own iothread (virtio-blk only). */
  iothread?: boolean;
  /** Device id; default `drive<N>`. */
  id?: string;
  /** Serial number the guest sees. */
  serial?: string;
}

/** A host port forwarded into a user-mode network. */
export interface HostForward {
  /** Protocol. Default `"tcp"`. */
  protocol?: "tcp" | "udp";
  /** Host address to bind. Default `"127.0.0.1"`. */
  hostAddress?: string;
  /** Host port. */
  hostPort: number;
  /** Guest port. */
  guestPort: number;
}

/** A network: user-mode (slirp) with forwards, or a tap device. */
export type NetworkOptions =
  | { type: "user"; forwards?: readonly HostForward[]; mac?: string }
  | { type: "tap"; ifname: string; mac?: string };

/** A character device backend for extra serial ports or devices. */
export type ChardevOptions =
  | { backend: "null" }
  | { backend: "file"; path: string }
  | { backend: "pipe"; path: string }
  | { backend: "pty" }
  | { backend: "socket"; path: string; server?: boolean; wait?: boolean };

/** Options of {@linkcode VmBuilder.toArgv}. */
export interface ToArgvOptions {
  /**
   * Directory of the console and QMP sockets, which QEMU connects to (vmkit listens there).
   * Default `"/tmp/vmkit"`; `launch()` uses its own private directory.
   */
  runtimeDir?: string;
  /**
   * The accelerator `auto` resolved to. Without it, `auto` is written as `-accel kvm -accel tcg`
   * (QEMU's own fallback); `launch()` resolves it with {@linkcode chooseAccel} instead.
   */
  accel?: "kvm" | "tcg";
  /**
   * Formats of drives added without one, by drive id; `launch()` reads them from the files.
   */
  driveFormats?: Readonly<Record<string, ImageFormat>>;
}

interface Drive extends DriveOptions {
  file: string;
  id: string;
}

interface State {
  readonly profile: VmProfile;
  readonly accel: AccelRequest;
  readonly memory?: number;
  readonly memoryHotplug?: { slots: number; max: number };
  readonly hotplugSlots: number;
  readonly incoming: boolean;
  readonly vga: boolean;
  readonly smp?: SmpOptions;
  readonly kernel?: { path: string } & KernelOptions;
  readonly drives: readonly Drive[];
  readonly networks: readonly NetworkOptions[];
  readonly networkNone: boolean;
  readonly rng: boolean;
  readonly balloon: boolean;
  readonly pvpanic: boolean;
  readonly fwCfg: readonly { name: string; file?: string; string?: string }[];
  readonly chardevs: readonly { id: string; options: ChardevOptions }[];
  readonly qmpSockets: readonly string[];
  readonly serials: readonly string[];
  readonly noReboot?: boolean;
  readonly paused: boolean;
  readonly nodefaults?: boolean;
  readonly noUserConfig?: boolean;
  readonly machine?: { type: string; props: Readonly<Record<string, string>> };
  readonly cpu?: string;
  readonly name?: string;
  readonly binary?: string;
  readonly extra: readonly string[];
}

/** The console chardev id vmkit uses for serial port 0. */
export const CONSOLE_CHARDEV = "vmkit-console";
/** The QMP chardev id vmkit uses. */
export const QMP_CHARDEV = "vmkit-qmp";
function checkEnum<T extends string>(
  field: string,
  value: T | undefined,
  allowed: readonly T[],
): void {
  if (value !== undefined && !allowed.includes(value)) {
    throw new TypeError(
      `Cannot set ${field} to ${JSON.stringify(value)}: use ${
        allowed.map((a) => `"${a}"`).join(", ")
      }`,
    );
  }
}

/**
 * Starts describing a VM.
 *
 * @param options The guest architecture.
 * @returns An immutable builder: every method returns a new one.
 * @throws {TypeError} When the architecture is unknown.
 *
 * @example Boot a kernel and run a command
 * ```ts ignore
 * import { vm } from "@vmkit/vmkit";
 * await using guest = await vm({ arch: "x86_64" })
 *   .memory("256M")
 *   .kernel(kernelPath, { initrd: initrdPath, append: "console=ttyS0" })
 *   .launch();
 * const { output, exitCode } = await guest.console.exec("uname -a");
 * ```
 *
 * @example A builder is a value: share a base
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const base = vm({ arch: "x86_64" }).memory("256M").accel("tcg");
 * const big = base.memory("2G");
 * console.log(base.toArgv().includes("256M"), big.toArgv().includes("2048M")); // true true
 * ```
 */
export function vm(options: VmOptions): VmBuilder {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot build a VM from ${String(options)}: pass { arch }`);
  }
  return new VmBuilder(archProfile(options.arch));
}

/** An immutable description of a QEMU VM. Make one with {@linkcode vm}. */
export class VmBuilder {
  readonly #profile: Readonly<ArchProfile>;
  #state: State = {
    profile: "fast",
    accel: "auto",
    drives: [],
    networks: [],
    networkNone: false,
    rng: false,
    balloon: false,
    pvpanic: false,
    fwCfg: [],
    chardevs: [],
    qmpSockets: [],
    serials: [],
    paused: false,
    hotplugSlots: 0,
    incoming: false,
    vga: false,
    extra: [],
  };

  /**
   * Use {@linkcode vm}.
   *
   * @param profile The architecture profile.
   */
  constructor(profile: Readonly<ArchProfile>) {
    this.#profile = profile;
  }

  #with(change: Partial<State>): VmBuilder {
    const next = new VmBuilder(this.#profile);
    next.#state = { ...this.#state, ...change };
    return next;
  }

  /** The guest architecture. */
  get arch(): Arch {
    return this.#profile.arch;
  }

  /** The architecture profile in use. */
  get archProfile(): Readonly<ArchProfile> {
    return this.#profile;
  }

  /** The requested accelerator. */
  get requestedAccel(): AccelRequest {
    return this.#state.accel;
  }

  /** The drives, in order: id, file and format (`undefined` until `launch()` reads it). */
  get drives(): { id: string; file: string; format?: ImageFormat }[] {
    return this.#state.drives.map((drive) => ({
      id: drive.id,
      file: drive.file,
      ...drive.format === undefined ? {} : { format: drive.format },
    }));
  }

  /** Extra QMP sockets QEMU listens on (see {@linkcode VmBuilder.qmpSocket}). */
  get qmpSockets(): readonly string[] {
    return this.#state.qmpSockets;
  }

  /** Kernel, initrd, drive and fw_cfg files that must exist before QEMU starts. */
  get inputFiles(): { what: string; path: string }[] {
    const files: { what: string; path: string }[] = [];
    const kernel = this.#state.kernel;
    if (kernel !== undefined) {
      files.push({ what: "kernel", path: kernel.path });
      if (kernel.initrd !== undefined) files.push({ what: "initrd", path: kernel.initrd });
    }
    for (const drive of this.#state.drives) {
      files.push({ what: `drive "${drive.id}"`, path: drive.file });
    }
    for (const entry of this.#state.fwCfg) {
      if (entry.file !== undefined) {
        files.push({ what: `fw_cfg "${entry.name}"`, path: entry.file });
      }
    }
    return files;
  }

  /**
   * Picks the profile. `fast` (default) uses the machine type, devices and kernel options
   * measured to boot fastest (q35 with `-nodefaults` and a quiet kernel on x86_64); `classic`
   * leaves QEMU's defaults as they are (pc on x86_64, default devices, your command line only).
   *
   * @param profile `"fast"` or `"classic"`.
   * @returns A new builder.
   */
  profile(profile: VmProfile): VmBuilder {
    checkEnum("profile", profile, ["fast", "classic"]);
    return this.#with({ profile });
  }

  /**
   * Picks the accelerator. `auto` (default) uses KVM only where KVM guests will run (see
   * {@linkcode chooseAccel}); the `VMKIT_ACCEL` environment variable overrides `auto`.
   *
   * @param accel `"auto"`, `"kvm"` or `"tcg"`.
   * @returns A new builder.
   */
  accel(accel: AccelRequest): VmBuilder {
    checkEnum("accel", accel, ["auto", "kvm", "tcg"]);
    return this.#with({ accel });
  }

  /**
   * Sets the guest memory, and with `slots` and `max` room to hot-add DIMMs later
   * (`Vm.addMemory`).
   *
   * @param size Such as `"256M"` or `"2G"`; a bare number means MiB.
   * @param options `slots` (1 to 256) and `max` (the most memory the guest may reach), together.
   * @returns A new builder.
   * @throws {RangeError} For an unknown unit, zero, less than a whole MiB, or a `max` not above
   *   `size`.
   * @throws {TypeError} When only one of `slots` and `max` is given.
   */
  memory(size: string | number, options: MemoryOptions = {}): VmBuilder {
    const memory = parseSize("memory", size);
    if ((options.slots === undefined) !== (options.max === undefined)) {
      throw new TypeError(
        `Cannot set memory hotplug with only ${
          options.slots === undefined ? "max" : "slots"
        }: give both slots and max`,
      );
    }
    if (options.slots === undefined) return this.#with({ memory, memoryHotplug: undefined });
    const slots = checkCount("memory slots", options.slots);
    if (slots > 256) {
      throw new RangeError(`Cannot set memory slots to ${slots}: use a whole number from 1 to 256`);
    }
    const max = parseSize("memory max", options.max!);
    if (max <= memory) {
      throw new RangeError(
        `Cannot set memory max ${JSON.stringify(options.max)}: it must be more than the memory (${
          JSON.stringify(size)
        })`,
      );
    }
    return this.#with({ memory, memoryHotplug: { slots, max } });
  }

  /**
   * Adds hotplug slots: on PCI Express machines (q35, and virt on aarch64 and riscv64) devices
   * are hot-added into PCIe root ports, which must exist when the VM starts; each one costs
   * about 12 ms of boot under TCG. Machines with a plain PCI bus (pc, pseries) or channel I/O
   * (s390x) hot-add without them, so this adds nothing there.
   *
   * @param count Free slots for `Vm.addDisk` and `Vm.addNic`, 0 to 32.
   * @returns A new builder.
   * @throws {RangeError} For a count outside 0 to 32, or on microvm, which cannot hotplug.
   */
  hotplugSlots(count: number): VmBuilder {
    if (!Number.isInteger(count) || count < 0 || count > 32) {
      throw new RangeError(
        `Cannot add ${String(count)} hotplug slots: use a whole number from 0 to 32`,
      );
    }
    if (count > 0 && this.hotplug.kind === "none") {
      throw new RangeError(`Cannot add hotplug slots: ${this.hotplug.reason}`);
    }
    return this.#with({ hotplugSlots: count });
  }

  /**
   * Starts QEMU waiting for an incoming migration (`-incoming defer`) instead of booting; use it
   * as the destination of `Vm.migrateTo`. The destination must be built like the source.
   *
   * @returns A new builder.
   */
  incoming(on = true): VmBuilder {
    return this.#with({ incoming: on });
  }

  /**
   * Adds a display adapter (`VGA` on x86_64, `virtio-gpu-pci` elsewhere), so `Vm.screendump`
   * has a screen to save. No window opens.
   *
   * @returns A new builder.
   * @throws {TypeError} On s390x, which has no display adapter.
   */
  vga(on = true): VmBuilder {
    if (on && this.#profile.arch === "s390x") {
      throw new TypeError("Cannot add a display adapter: QEMU has none for s390x");
    }
    return this.#with({ vga: on });
  }

  /**
   * Sets the CPU count, or the whole SMP topology.
   *
   * @param smp A CPU count, or the topology.
   * @returns A new builder.
   * @throws {RangeError} When the topology is inconsistent: sockets × cores × threads must equal
   *   maxcpus (or cpus), and cpus may not exceed maxcpus.
   */
  smp(smp: number | SmpOptions): VmBuilder {
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
    return this.#with({ smp: options });
  }

  /**
   * Boots a kernel directly.
   *
   * @param path Kernel image on the host.
   * @param options Initrd and command line.
   * @returns A new builder.
   * @throws {TypeError} When a path or the command line contains newline or NUL.
   */
  kernel(path: string, options: KernelOptions = {}): VmBuilder {
    checkPath("kernel", path);
    if (options.initrd !== undefined) checkPath("initrd", options.initrd);
    if (options.append !== undefined) checkValue("kernel append", options.append);
    return this.#with({ kernel: { path, ...options } });
  }

  /**
   * Adds a disk.
   *
   * @param file Image file on the host.
   * @param options Format, read-only, snapshot, cache, aio, interface, iothread, id, serial.
   * @returns A new builder.
   * @throws {TypeError} For a bad value or a duplicate id.
   * @throws {RangeError} For `aio: "native"` without `cache` `none` or `directsync`.
   */
  drive(file: string, options: DriveOptions = {}): VmBuilder {
    checkPath("drive file", file);
    checkEnum("drive format", options.format, ["raw", "qcow2"]);
    checkEnum("drive cache", options.cache, [
      "none",
      "writeback",
      "writethrough",
      "directsync",
      "unsafe",
    ]);
    checkEnum("drive aio", options.aio, ["threads", "native", "io_uring"]);
    checkEnum("drive interface", options.interface, ["virtio-blk", "scsi"]);
    if (options.aio === "native" && options.cache !== "none" && options.cache !== "directsync") {
      throw new RangeError(
        `Cannot add drive "${file}" with aio "native": it needs cache "none" or "directsync"`,
      );
    }
    if (options.iothread && options.interface === "scsi") {
      throw new TypeError(
        `Cannot add drive "${file}" with an iothread: only virtio-blk has one here`,
      );
    }
    if (options.serial !== undefined) escapeOptionValue("drive serial", options.serial);
    const id = checkId("drive", options.id ?? `drive${this.#state.drives.length}`);
    if (this.#state.drives.some((drive) => drive.id === id)) {
      throw new TypeError(`Cannot add drive "${file}": id "${id}" is already used`);
    }
    return this.#with({ drives: [...this.#state.drives, { ...options, file, id }] });
  }

  /**
   * Adds a network card, or with `"none"` makes sure there is none (also under `classic`).
   *
   * @param network `"none"`, a user-mode network with host forwards, or a tap device.
   * @returns A new builder.
   * @throws {RangeError} For a bad port or a host port forwarded twice.
   * @throws {TypeError} For a bad type, address, interface name or MAC.
   */
  network(network: "none" | NetworkOptions): VmBuilder {
    if (network === "none") return this.#with({ networks: [], networkNone: true });
    checkEnum("network type", network?.type, ["user", "tap"]);
    if (network.mac !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(network.mac)) {
      throw new TypeError(
        `Cannot set network mac ${JSON.stringify(network.mac)}: use xx:xx:xx:xx:xx:xx`,
      );
    }
    if (network.type === "tap") {
      if (typeof network.ifname !== "string" || !/^[A-Za-z0-9_.-]{1,15}$/.test(network.ifname)) {
        throw new TypeError(
          `Cannot use tap interface ${
            JSON.stringify(network.ifname)
          }: use up to 15 letters, digits, "_", "." or "-"`,
        );
      }
    } else {
      const used = new Set<string>();
      for (const forward of network.forwards ?? []) {
        checkEnum("forward protocol", forward.protocol, ["tcp", "udp"]);
        for (const key of ["hostPort", "guestPort"] as const) {
          const port = forward[key];
          if (!Number.isInteger(port) || port < 1 || port > 65535) {
            throw new RangeError(
              `Cannot forward ${key} ${String(port)}: use a port from 1 to 65535`,
            );
          }
        }
        const address = forward.hostAddress ?? "127.0.0.1";
        if (!/^[A-Za-z0-9.:-]+$/.test(address)) {
          throw new TypeError(
            `Cannot forward from host address ${JSON.stringify(address)}: not an address`,
          );
        }
        const key = `${forward.protocol ?? "tcp"}:${address}:${forward.hostPort}`;
        if (used.has(key)) throw new RangeError(`Cannot forward host port ${key} twice`);
        used.add(key);
      }
    }
    return this.#with({ networks: [...this.#state.networks, network], networkNone: false });
  }

  /** Adds a virtio-rng device fed from the host's `/dev/urandom`. @returns A new builder. */
  rng(): VmBuilder {
    return this.#with({ rng: true });
  }

  /** Adds a virtio balloon device. @returns A new builder. */
  balloon(): VmBuilder {
    return this.#with({ balloon: true });
  }

  /**
   * Adds a pvpanic device, so a guest panic reaches QMP as `GUEST_PANICKED`.
   *
   * @returns A new builder.
   * @throws {TypeError} On architectures without pvpanic (s390x).
   */
  pvpanic(): VmBuilder {
    if (this.#profile.pvpanic === "none") {
      throw new TypeError(
        `Cannot add pvpanic: QEMU has no pvpanic device for ${this.#profile.arch}`,
      );
    }
    return this.#with({ pvpanic: true });
  }

  /**
   * Adds a firmware configuration entry the guest reads from `/sys/firmware/qemu_fw_cfg`.
   *
   * @param name Entry name; must start with `opt/` (QEMU's rule for user entries), ≤ 55 bytes.
   * @param content `{ file }` on the host or `{ string }`.
   * @returns A new builder.
   * @throws {RangeError} When the name breaks QEMU's rules or is used twice.
   */
  fwCfg(name: string, content: { file: string } | { string: string }): VmBuilder {
    checkValue("fw_cfg name", name);
    if (!/^opt\/[A-Za-z0-9_.\/-]+$/.test(name) || name.length > 55) {
      throw new RangeError(
        `Cannot add fw_cfg entry ${
          JSON.stringify(name)
        }: names start with "opt/", use letters, digits, "_", ".", "/", "-" and are at most 55 bytes`,
      );
    }
    if (this.#state.fwCfg.some((entry) => entry.name === name)) {
      throw new RangeError(`Cannot add fw_cfg entry "${name}" twice`);
    }
    if ("file" in content) checkPath(`fw_cfg "${name}" file`, content.file);
    else checkValue(`fw_cfg "${name}" string`, content.string);
    return this.#with({ fwCfg: [...this.#state.fwCfg, { name, ...content }] });
  }

  /**
   * Adds a character device, for {@linkcode VmBuilder.serial} or a `-device` given by `.arg()`.
   *
   * @param id Chardev id.
   * @param options Backend and its path.
   * @returns A new builder.
   * @throws {TypeError} For a bad id, backend or path, or a duplicate id.
   */
  chardev(id: string, options: ChardevOptions): VmBuilder {
    checkId("chardev", id);
    checkEnum("chardev backend", options?.backend, ["null", "file", "pipe", "pty", "socket"]);
    if ("path" in options) checkPath(`chardev "${id}" path`, options.path);
    if (this.#state.chardevs.some((chardev) => chardev.id === id)) {
      throw new TypeError(`Cannot add chardev "${id}": the id is already used`);
    }
    return this.#with({ chardevs: [...this.#state.chardevs, { id, options }] });
  }

  /**
   * Adds a serial port after vmkit's console (which is always serial port 0).
   *
   * @param chardevId A chardev added with {@linkcode VmBuilder.chardev}.
   * @returns A new builder.
   * @throws {TypeError} When no such chardev was added.
   */
  serial(chardevId: string): VmBuilder {
    if (!this.#state.chardevs.some((chardev) => chardev.id === chardevId)) {
      throw new TypeError(
        `Cannot add serial port on chardev "${chardevId}": add it with .chardev() first`,
      );
    }
    return this.#with({ serials: [...this.#state.serials, chardevId] });
  }

  /** Exit instead of rebooting (`-no-reboot`); on by default in the fast profile. @returns A new builder. */
  noReboot(on = true): VmBuilder {
    return this.#with({ noReboot: on });
  }

  /** Start with the CPUs stopped (`-S`); resume with QMP `cont`. @returns A new builder. */
  paused(on = true): VmBuilder {
    return this.#with({ paused: on });
  }

  /** No default devices (`-nodefaults`); on by default in the fast profile. @returns A new builder. */
  nodefaults(on = true): VmBuilder {
    return this.#with({ nodefaults: on });
  }

  /** Ignore QEMU's config files (`-no-user-config`); on by default in the fast profile. @returns A new builder. */
  noUserConfig(on = true): VmBuilder {
    return this.#with({ noUserConfig: on });
  }

  /**
   * Overrides the machine type.
   *
   * @param type Such as `"q35"`, `"virt"`.
   * @param props Machine properties, such as `{ "gic-version": "3" }`.
   * @returns A new builder.
   * @throws {TypeError} When the type is not a plain name (`"dump-guest-core=off"` would make
   *   QEMU start its default machine with that property), or a property is malformed.
   */
  machine(type: string, props: Record<string, string> = {}): VmBuilder {
    checkOptionHead("machine type", type, "pass properties in the second argument");
    for (const [key, value] of Object.entries(props)) {
      if (!/^[a-z][a-z0-9_.-]*$/i.test(key)) {
        throw new TypeError(`Cannot set machine property ${JSON.stringify(key)}`);
      }
      escapeOptionValue(`machine property ${key}`, value);
    }
    return this.#with({ machine: { type, props: { ...props } } });
  }

  /**
   * Overrides the CPU model (default: `host` under KVM, the profile's model under TCG).
   *
   * @param model Such as `"max"`, optionally with properties (`"max,pmu=off"`, `"max,+avx2"`).
   * @returns A new builder.
   * @throws {TypeError} When the model is not a plain name, or a property is not `key=value`,
   *   `+feature` or `-feature`.
   */
  cpu(model: string): VmBuilder {
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
    return this.#with({ cpu: model });
  }

  /** Names the guest (`-name`). @returns A new builder. */
  name(name: string): VmBuilder {
    escapeOptionValue("name", name);
    return this.#with({ name });
  }

  /**
   * Adds a QMP monitor that QEMU serves on a unix socket at `path`, for other tools: vmkit's
   * `recipes/qmp-shell.ts` and `qmp-events.ts`, QEMU's own `qmp-shell`, libvirt-style scripts.
   * Each monitor takes one client at a time; call it again for more. QEMU makes the socket when
   * it starts; it is removed when the VM is cleaned up. `vm.qmp` stays vmkit's own monitor.
   *
   * @param path Where QEMU listens; it must not exist when the VM launches.
   * @returns A new builder.
   * @throws {TypeError} When the path is empty, has newline or NUL, or was given already.
   * @throws {RangeError} When the path is longer than a unix socket path can be (107 bytes).
   *
   * @example
   * ```ts ignore
   * await using guest = await vm({ arch: "x86_64" }).qmpSocket("/tmp/vm1.qmp").launch();
   * // elsewhere: ./recipes/qmp-shell.ts /tmp/vm1.qmp
   * ```
   */
  qmpSocket(path: string): VmBuilder {
    checkSocketPath("QMP socket", path);
    if (this.#state.qmpSockets.includes(path)) {
      throw new TypeError(`Cannot add QMP socket "${path}" twice`);
    }
    return this.#with({ qmpSockets: [...this.#state.qmpSockets, path] });
  }

  /** Uses another QEMU binary (a path or a name on PATH). @returns A new builder. */
  qemuBinary(binary: string): VmBuilder {
    checkPath("qemu binary", binary);
    return this.#with({ binary });
  }

  /**
   * Appends raw arguments, after everything vmkit writes. Nothing is escaped or checked but
   * newline and NUL: this is the escape hatch.
   *
   * @param args QEMU arguments.
   * @returns A new builder.
   */
  arg(...args: string[]): VmBuilder {
    for (const arg of args) checkValue("arg", arg);
    return this.#with({ extra: [...this.#state.extra, ...args] });
  }

  /** The QEMU binary this builder runs. */
  get binary(): string {
    return this.#state.binary ?? this.#profile.binary;
  }

  /** The virtio transport the machine uses. */
  get transport(): VirtioTransport {
    const machine = this.#state.machine?.type;
    if (machine !== undefined && this.#profile.arch === "x86_64") {
      return machine.startsWith("microvm") ? "mmio" : "pci";
    }
    return this.#state.profile === "fast"
      ? this.#profile.fastTransport
      : this.#profile.classicTransport;
  }

  /**
   * The firmware image the VM starts (`-bios`): the fast profile's own when it boots a kernel
   * directly on its default machine type (`qboot.rom` on x86_64), else `undefined` for QEMU's
   * default (SeaBIOS on x86_64).
   */
  get bios(): string | undefined {
    const p = this.#profile;
    return this.#state.profile === "fast" && this.#state.kernel !== undefined &&
        this.#machineType() === p.fastMachine
      ? p.fastKernelFirmware
      : undefined;
  }

  /** Whether QEMU exits when the guest reboots (`-no-reboot`; the fast profile's default). */
  get exitsOnReboot(): boolean {
    return this.#state.noReboot ?? this.#state.profile === "fast";
  }

  /** Whether the VM has DIMM slots for memory hot-add (see {@linkcode VmBuilder.memory}). */
  get hasMemoryHotplug(): boolean {
    return this.#state.memoryHotplug !== undefined;
  }

  /** How this machine hot-adds devices, and the root port ids when it uses them. */
  get hotplug(): HotplugKind {
    const machine = this.#machineType();
    if (machine.startsWith("microvm")) {
      return { kind: "none", reason: `machine "${machine}" cannot hotplug devices` };
    }
    const pcie = this.#profile.arch === "x86_64"
      ? machine === "q35" || machine.startsWith("pc-q35")
      : (this.#profile.arch === "aarch64" || this.#profile.arch === "riscv64") &&
        machine.startsWith("virt");
    if (!pcie) return { kind: "bus" };
    return {
      kind: "root-ports",
      ports: Array.from({ length: this.#state.hotplugSlots }, (_, i) => `vmkit-hp${i}`),
    };
  }

  #machineType(): string {
    return this.#state.machine?.type ??
      (this.#state.profile === "fast" ? this.#profile.fastMachine : this.#profile.classicMachine);
  }

  /**
   * The QEMU command line, without the binary. Pure: reads no file and gives the same argv for
   * the same builder and options.
   *
   * @param options Runtime directory of the sockets, and the accelerator `auto` resolved to.
   * @returns The arguments.
   */
  toArgv(options: ToArgvOptions = {}): string[] {
    const s = this.#state;
    const p = this.#profile;
    const fast = s.profile === "fast";
    const runtimeDir = checkPath("runtimeDir", options.runtimeDir ?? "/tmp/vmkit");
    const transport = this.transport;
    const virtio = (device: string) =>
      `virtio-${device}-${transport === "mmio" ? "device" : transport}`;
    const argv: string[] = [];
    if (s.name !== undefined) {
      argv.push("-name", optionList(undefined, [["guest", s.name, "name"]]));
    }
    const machine = s.machine ?? { type: this.#machineType(), props: {} };
    argv.push(
      "-machine",
      optionList(escapeOptionValue("machine type", machine.type), Object.entries(machine.props)),
    );
    const accel = s.accel === "auto" ? options.accel : s.accel;
    if (accel === undefined) argv.push("-accel", "kvm", "-accel", "tcg");
    else argv.push("-accel", accel);
    const cpu = s.cpu ?? (accel === "kvm" ? p.kvmCpu : accel === "tcg" ? p.tcgCpu : "max");
    argv.push("-cpu", cpu);
    if (s.memory !== undefined || s.memoryHotplug !== undefined) {
      const size = s.memory === undefined ? "128M" : `${s.memory / 2 ** 20}M`;
      const hotplug = s.memoryHotplug;
      argv.push(
        "-m",
        hotplug === undefined ? size : optionList(size, [["slots", String(hotplug.slots)], [
          "maxmem",
          `${hotplug.max / 2 ** 20}M`,
        ]]),
      );
    }
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
    if (s.nodefaults ?? fast) argv.push("-nodefaults");
    if (s.noUserConfig ?? fast) argv.push("-no-user-config");
    if (s.noReboot ?? fast) argv.push("-no-reboot");
    if (s.paused) argv.push("-S");
    if (s.incoming) argv.push("-incoming", "defer");
    argv.push("-display", "none");
    argv.push(
      "-chardev",
      optionList("socket", [["id", CONSOLE_CHARDEV], [
        "path",
        `${runtimeDir}/console.sock`,
        "runtimeDir",
      ]]),
      "-serial",
      `chardev:${CONSOLE_CHARDEV}`,
      "-chardev",
      optionList("socket", [["id", QMP_CHARDEV], ["path", `${runtimeDir}/qmp.sock`, "runtimeDir"]]),
      "-mon",
      `chardev=${QMP_CHARDEV},mode=control`,
    );
    s.qmpSockets.forEach((path, index) => {
      const id = `${QMP_CHARDEV}${index + 1}`;
      argv.push(
        "-chardev",
        optionList("socket", [["id", id], ["path", path, "qmp socket"], ["server", true], [
          "wait",
          false,
        ]]),
        "-mon",
        `chardev=${id},mode=control`,
      );
    });
    if (s.kernel !== undefined) {
      const bios = this.bios;
      if (bios !== undefined) argv.push("-bios", bios);
      argv.push("-kernel", s.kernel.path);
      if (s.kernel.initrd !== undefined) argv.push("-initrd", s.kernel.initrd);
      const append = fast
        ? [
          `console=${p.console}`,
          p.fastAppend,
          accel === "tcg" ? p.tcgAppend : "",
          s.kernel.append ?? "",
        ].filter(Boolean).join(" ")
        : s.kernel.append;
      if (append !== undefined && append !== "") argv.push("-append", append);
    }
    let scsi = false;
    for (const drive of s.drives) {
      const format = drive.format ?? options.driveFormats?.[drive.id];
      if (format === undefined) {
        throw new TypeError(
          `Cannot write the command line of drive "${drive.id}" ("${drive.file}"): its format is not known; pass .drive(file, { format: "raw" | "qcow2" }), or launch(), which reads it from the file`,
        );
      }
      if (drive.snapshot) {
        // -blockdev has no temporary overlay: -drive makes one, and with an explicit format and
        // file.driver=file the path is still a plain file name, never a protocol.
        argv.push(
          "-drive",
          optionList(undefined, [
            ["driver", format],
            ["file.driver", "file"],
            ["file.filename", drive.file, `drive "${drive.id}" file`],
            ["if", "none"],
            ["id", drive.id],
            ["readonly", drive.readOnly],
            ["snapshot", true],
            ["cache", drive.cache],
            ["aio", drive.aio],
          ]),
        );
      } else {
        const nodes = blockdevOptions({
          id: drive.id,
          file: drive.file,
          format,
          readOnly: drive.readOnly,
          cache: drive.cache,
          aio: drive.aio,
        });
        argv.push("-blockdev", JSON.stringify(nodes));
      }
      const writeCache = !drive.snapshot && writeCacheOff(drive.cache) ? false : undefined;
      if (drive.interface === "scsi") {
        if (!scsi) argv.push("-device", optionList(virtio("scsi"), [["id", "vmkit-scsi"]]));
        scsi = true;
        argv.push(
          "-device",
          optionList("scsi-hd", [
            ["drive", drive.id],
            ["id", `${drive.id}-dev`],
            ["bus", "vmkit-scsi.0"],
            ["serial", drive.serial, "drive serial"],
            ["write-cache", writeCache],
          ]),
        );
      } else {
        if (drive.iothread) {
          argv.push("-object", optionList("iothread", [["id", `${drive.id}-io`]]));
        }
        argv.push(
          "-device",
          optionList(virtio("blk"), [
            ["drive", drive.id],
            ["id", `${drive.id}-dev`],
            ["iothread", drive.iothread ? `${drive.id}-io` : undefined],
            ["serial", drive.serial, "drive serial"],
            ["write-cache", writeCache],
          ]),
        );
      }
    }
    if (s.networkNone && !(s.nodefaults ?? fast)) argv.push("-nic", "none");
    s.networks.forEach((network, index) => {
      const id = `net${index}`;
      if (network.type === "user") {
        const forwards = (network.forwards ?? []).map((f) =>
          [
            "hostfwd",
            `${f.protocol ?? "tcp"}:${f.hostAddress ?? "127.0.0.1"}:${f.hostPort}-:${f.guestPort}`,
          ] as const
        );
        argv.push("-netdev", optionList("user", [["id", id], ...forwards]));
      } else {
        argv.push(
          "-netdev",
          optionList("tap", [["id", id], ["ifname", network.ifname], ["script", "no"], [
            "downscript",
            "no",
          ]]),
        );
      }
      argv.push(
        "-device",
        optionList(virtio("net"), [["netdev", id], ["id", `${id}-dev`], ["mac", network.mac]]),
      );
    });
    if (s.rng) {
      argv.push(
        "-object",
        "rng-random,id=vmkit-rng,filename=/dev/urandom",
        "-device",
        optionList(virtio("rng"), [["rng", "vmkit-rng"]]),
      );
    }
    if (s.balloon) argv.push("-device", optionList(virtio("balloon"), [["id", "vmkit-balloon"]]));
    const hotplug = this.hotplug;
    if (s.hotplugSlots > 0 && hotplug.kind === "none") {
      throw new RangeError(`Cannot add hotplug slots: ${hotplug.reason}`);
    }
    if (hotplug.kind === "root-ports") {
      hotplug.ports.forEach((id, index) => {
        argv.push(
          "-device",
          optionList("pcie-root-port", [["id", id], ["chassis", String(index + 1)]]),
        );
      });
    }
    if (s.vga) argv.push("-device", p.arch === "x86_64" ? "VGA" : virtio("gpu"));
    if (s.pvpanic) argv.push("-device", p.pvpanic === "isa" ? "pvpanic" : "pvpanic-pci");
    for (const entry of s.fwCfg) {
      argv.push(
        "-fw_cfg",
        optionList(undefined, [
          ["name", entry.name, "fw_cfg name"],
          entry.file !== undefined
            ? ["file", entry.file, `fw_cfg "${entry.name}" file`]
            : ["string", entry.string, `fw_cfg "${entry.name}" string`],
        ]),
      );
    }
    for (const { id, options: c } of s.chardevs) {
      const pairs: [string, string | boolean | undefined, string?][] = [["id", id]];
      if (c.backend === "file" || c.backend === "pipe") {
        pairs.push(["path", c.path, `chardev "${id}" path`]);
      }
      if (c.backend === "socket") {
        pairs.push(["path", c.path, `chardev "${id}" path`], ["server", c.server ?? true], [
          "wait",
          c.wait ?? false,
        ]);
      }
      argv.push("-chardev", optionList(c.backend, pairs));
    }
    for (const id of s.serials) argv.push("-serial", `chardev:${id}`);
    argv.push(...s.extra);
    return argv;
  }

  /**
   * The command line as one copy-pasteable, shell-quoted line, binary first.
   *
   * @param options As for {@linkcode VmBuilder.toArgv}.
   * @returns The shell line.
   */
  toShell(options: ToArgvOptions = {}): string {
    return [this.binary, ...this.toArgv(options)].map(shellQuote).join(" ");
  }

  /**
   * Resolves `auto` to KVM or TCG for this host, reading `/dev/kvm` and `/proc/cpuinfo` when
   * Deno may (never prompting).
   *
   * @returns The accelerator and why.
   */
  resolveAccel(): { accel: "kvm" | "tcg"; reason: string } {
    if (this.#state.accel !== "auto") {
      return { accel: this.#state.accel, reason: `requested with .accel("${this.#state.accel}")` };
    }
    return chooseAccel(this.#profile.arch, detectHostFacts());
  }

  /**
   * Checks this VM against the installed QEMU before anything starts: the machine type, every
   * `-device` driver and `-object` type (also those given with `.arg()`), the CPU model and the
   * accelerator must exist. Starts a throwaway `-machine none` QEMU (about 70 ms).
   *
   * @param options Time limit (default 10 s) and signal.
   * @returns What was found, with the machine type resolved (`q35` → `pc-q35-7.2`).
   * @throws {VmCheckError} Listing everything missing, with similar names QEMU has.
   *
   * @example
   * ```ts ignore
   * const report = await vm({ arch: "x86_64" }).arg("-device", "virtio-gpu-gl-pci").check();
   * ```
   */
  check(options: WaitOptions = {}): Promise<PreflightReport> {
    const accel = this.resolveAccel().accel;
    return preflight(this.binary, this.toArgv({ accel }), options);
  }

  /**
   * Starts the VM: checks the input files, resolves the accelerator, makes a private runtime
   * directory (0700), starts QEMU, and connects to its console and QMP.
   *
   * @param options Time limit for start-up (default 30 s), signal, runtime directory base.
   * @returns The running VM; dispose of it (`await using`) to shut it down and clean up.
   * @throws {Deno.errors.NotFound} When an input file or the QEMU binary is missing (the
   *   message names the Debian package).
   * @throws {VmLaunchError} When QEMU exits during start-up (with its stderr and the argv).
   */
  launch(options: LaunchOptions = {}): Promise<Vm> {
    return launchVm(this, options);
  }
}
