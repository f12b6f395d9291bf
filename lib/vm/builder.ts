/**
 * The immutable VM builder: a thin, fluent collector of a VM description, which turns into an
 * argv ({@linkcode descriptionArgv}) and launches.
 *
 * @module
 */

import { type AccelChoice, type AccelRequest, chooseAccel } from "./accel.ts";
import { type Arch, type ArchProfile, archProfile, type VirtioTransport } from "./arch.ts";
import { checkValue, escapeOptionValue, shellQuote } from "./qemu_opts.ts";
import type { ImageFormat } from "./image_format.ts";
import { detectHostFacts } from "./_host.ts";
import { checkPath, checkSocketPath } from "./_checks.ts";
import { type LaunchOptions, launchVm } from "./launch.ts";
import type { Vm } from "./vm.ts";
import { preflight, type PreflightReport } from "./preflight.ts";
import type { WaitOptions } from "../_deadline.ts";
import { checkEnum, methodField, optionalBoolean } from "./_validate.ts";
import {
  type Firmware,
  type FwCfgEntry,
  type KernelOptions,
  type MemoryOptions,
  type NumaNode,
  type ObjectDescription,
  parseCpu,
  parseFirmware,
  parseFwCfg,
  parseKernel,
  parseMachine,
  parseMemory,
  parseNuma,
  parseObject,
  parseRtc,
  parseSmbios,
  parseSmp,
  type RtcOptions,
  type SmbiosEntry,
  type SmpOptions,
} from "./_machine_options.ts";
import {
  EMPTY_STATE,
  parseDescription,
  toDescription,
  type VmDescription,
  type VmState,
} from "./description.ts";
import { descriptionArgv, firmwareVarsPath, type ToArgvOptions } from "./argv.ts";
import {
  fastKernelBios,
  type HotplugKind,
  machineHotplug,
  machineTransport,
  machineType,
  type VmProfile,
} from "./machine.ts";
import { type DriveOptions, parseDrive } from "./devices/disk.ts";
import { type NetworkOptions, parseNetwork } from "./devices/network.ts";
import { type ChardevOptions, parseChardev } from "./devices/chardev.ts";
import { type Device, DEVICE_KINDS, kindOf } from "./devices/_registry.ts";
import type { InputFile, Sidecar, VmSpec } from "./spec.ts";
import type { BalloonDevice } from "./devices/balloon.ts";
import type { DisplayDevice } from "./devices/display.ts";
import type { RngDevice } from "./devices/rng.ts";

/** Options of {@linkcode vm}. */
export interface VmOptions {
  /** Guest architecture. */
  arch: Arch;
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
export class VmBuilder implements VmSpec {
  readonly #profile: Readonly<ArchProfile>;
  #state: VmState = EMPTY_STATE;

  /**
   * Use {@linkcode vm} or {@linkcode VmBuilder.fromJSON}.
   *
   * @param profile The architecture profile.
   */
  constructor(profile: Readonly<ArchProfile>) {
    this.#profile = profile;
  }

  #with(change: Partial<VmState>): VmBuilder {
    const next = new VmBuilder(this.#profile);
    next.#state = { ...this.#state, ...change };
    return next;
  }

  /**
   * Reads a description written by {@linkcode VmBuilder.toJSON} (or by hand, or from YAML),
   * checking every field.
   *
   * @param description The description.
   * @returns A builder.
   * @throws {TypeError} Naming the path of the bad field: `drives[1].cache`.
   * @throws {RangeError} Naming the path of a value out of range.
   *
   * @example
   * ```ts
   * import { VmBuilder } from "@vmkit/vmkit";
   * const builder = VmBuilder.fromJSON({ arch: "x86_64", memory: "512M", accel: "tcg" });
   * console.log(builder.toArgv().includes("512M")); // true
   * ```
   */
  static fromJSON(description: unknown): VmBuilder {
    const { arch, state } = parseDescription(description);
    const builder = new VmBuilder(archProfile(arch));
    builder.#state = state;
    builder.#checkReferences("Cannot read VM description");
    return builder;
  }

  /**
   * The description as plain data: only what was set, ready for `JSON.stringify`.
   *
   * @returns The description; `VmBuilder.fromJSON` turns it back into an equal builder.
   */
  toJSON(): VmDescription {
    return toDescription(this.#profile.arch, this.#state);
  }

  /** Ids of everything the description names, with what each is. */
  #ids(): Map<string, string> {
    const ids = new Map<string, string>();
    const take = (id: string, what: string, action: string) => {
      const other = ids.get(id);
      if (other !== undefined) {
        throw new TypeError(`${action}: id "${id}" is used by both ${other} and ${what}`);
      }
      ids.set(id, what);
    };
    const s = this.#state;
    const action = "Cannot describe the VM";
    for (const drive of s.drives) take(drive.id, `drive "${drive.file}"`, action);
    s.networks.forEach((net, i) => take(net.id ?? `net${i}`, `network ${i}`, action));
    for (const c of s.chardevs) take(c.id, `chardev "${c.id}"`, action);
    for (const o of s.objects) take(o.id, `object "${o.id}"`, action);
    const counts = new Map<string, number>();
    for (const device of s.devices) {
      const index = counts.get(device.kind) ?? 0;
      counts.set(device.kind, index + 1);
      for (const id of kindOf(device).ids?.(device, index) ?? []) {
        take(id, `${device.kind} device ${index}`, action);
      }
    }
    return ids;
  }

  /** Checks what one part of a description names in another: ids, serial chardevs. */
  #checkReferences(action: string): void {
    try {
      this.#ids();
    } catch (error) {
      throw new TypeError((error as Error).message.replace(/^Cannot describe the VM/, action));
    }
    for (const id of this.#state.serials) {
      if (!this.#state.chardevs.some((chardev) => chardev.id === id)) {
        throw new TypeError(
          `${action}: serial port on chardev "${id}": no such chardev; add it to chardevs`,
        );
      }
    }
  }

  /** Adds to a list and checks that no id is taken twice. */
  #adding(action: string, change: Partial<VmState>): VmBuilder {
    const next = this.#with(change);
    next.#checkReferences(action);
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

  /** The devices of the generic list ({@linkcode VmBuilder.device}), in order. */
  get devices(): readonly Device[] {
    return structuredClone(this.#state.devices) as Device[];
  }

  /** Kernel, initrd, drive, fw_cfg and device files that must exist before QEMU starts. */
  get inputFiles(): InputFile[] {
    const files: InputFile[] = [];
    const kernel = this.#state.kernel;
    if (kernel !== undefined) {
      files.push({ what: "kernel", path: kernel.path });
      if (kernel.initrd !== undefined) files.push({ what: "initrd", path: kernel.initrd });
    }
    for (const drive of this.#state.drives) {
      files.push({ what: `drive "${drive.id}"`, path: drive.file });
    }
    for (const entry of this.#state.fwCfg) {
      if ("file" in entry) files.push({ what: `fw_cfg "${entry.name}"`, path: entry.file });
    }
    for (const device of this.#state.devices) files.push(...kindOf(device).inputs?.(device) ?? []);
    const firmware = this.#state.firmware;
    if (firmware !== undefined) {
      if ("bios" in firmware) files.push({ what: "firmware", path: firmware.bios });
      else {
        files.push({ what: "firmware code", path: firmware.code });
        if (firmware.varsTemplate !== undefined) {
          files.push({ what: "firmware vars template", path: firmware.varsTemplate });
        } else if (firmware.vars !== undefined) {
          files.push({ what: "firmware vars", path: firmware.vars });
        }
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
    return this.#with({ profile: checkEnum("profile", profile, ["fast", "classic"]) });
  }

  /**
   * Picks the accelerator. `auto` (default) uses KVM only where KVM guests will run (see
   * {@linkcode chooseAccel}); the `VMKIT_ACCEL` environment variable overrides `auto`.
   *
   * @param accel `"auto"`, `"kvm"` or `"tcg"`.
   * @returns A new builder.
   */
  accel(accel: AccelRequest): VmBuilder {
    return this.#with({ accel: checkEnum("accel", accel, ["auto", "kvm", "tcg"]) });
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
    return this.#with(parseMemory(size, options));
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
    const hotplug = this.hotplug;
    if (count > 0 && hotplug.kind === "none") {
      throw new RangeError(`Cannot add hotplug slots: ${hotplug.reason}`);
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
   * Sets the CPU count, or the whole SMP topology.
   *
   * @param smp A CPU count, or the topology.
   * @returns A new builder.
   * @throws {RangeError} When the topology is inconsistent: sockets × cores × threads must equal
   *   maxcpus (or cpus), and cpus may not exceed maxcpus.
   */
  smp(smp: number | SmpOptions): VmBuilder {
    return this.#with({ smp: parseSmp(smp) });
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
    return this.#with({ kernel: parseKernel(path, options) });
  }

  /**
   * Adds a disk: virtio-blk by default, or on virtio-scsi, NVMe, IDE/AHCI or USB; a hard disk
   * or a CD-ROM (`media: "cdrom"`, on virtio-scsi by default).
   *
   * @param file Image file on the host.
   * @param options Format, interface, media, read-only, snapshot, cache, aio, discard,
   *   detect-zeroes, iothread, id, serial, boot index.
   * @returns A new builder.
   * @throws {TypeError} For a bad value, a duplicate id, or options that conflict (naming both).
   * @throws {RangeError} For `aio: "native"` without `cache` `none` or `directsync`.
   *
   * @example
   * ```ts
   * import { vm } from "@vmkit/vmkit";
   * const builder = vm({ arch: "x86_64" })
   *   .drive("root.qcow2", { format: "qcow2", discard: true, detectZeroes: "unmap" })
   *   .drive("seed.iso", { format: "raw", media: "cdrom" });
   * console.log(builder.toArgv().includes("scsi-cd")); // true
   * ```
   */
  drive(file: string, options: DriveOptions = {}): VmBuilder {
    const drive = parseDrive(
      { ...options, file },
      methodField("drive"),
      `drive${this.#state.drives.length}`,
    );
    return this.#adding(`Cannot add drive "${file}"`, {
      drives: [...this.#state.drives, drive],
    });
  }

  /**
   * Adds a network card, or with `"none"` makes sure there is none (also under `classic`).
   *
   * @param network `"none"`; user-mode networking with forwards; a tap device; a host bridge;
   *   a stream socket to another VM; or vhost-user.
   * @returns A new builder.
   * @throws {RangeError} For a bad port or a host port forwarded twice.
   * @throws {TypeError} For a bad type, address, interface name or MAC.
   */
  network(network: "none" | NetworkOptions): VmBuilder {
    if (network === "none") return this.#with({ networks: [], networkNone: true });
    const parsed = parseNetwork(network, methodField("network"));
    return this.#adding("Cannot add the network", {
      networks: [...this.#state.networks, parsed],
      networkNone: false,
    });
  }

  /**
   * Adds a device of the generic list, described as data: `{ kind: "rng" }`,
   * `{ kind: "balloon", deflateOnOom: true }`, `{ kind: "display", vnc: true }`... A kind a VM
   * has only one of (rng, balloon, display, pvpanic) replaces the one there.
   *
   * @param device The device.
   * @returns A new builder.
   * @throws {TypeError} For an unknown kind or field, a bad value, or an id already used.
   */
  device(device: Device): VmBuilder {
    const kinds = Object.keys(DEVICE_KINDS) as Device["kind"][];
    const kind = checkEnum("device kind", (device as { kind?: unknown } | null)?.kind, kinds);
    const parsed = this.#parseDevice(kind, device);
    const rest = kindOf(parsed).single
      ? this.#state.devices.filter((d) => d.kind !== kind)
      : this.#state.devices;
    return this.#adding(`Cannot add ${kind} device`, { devices: [...rest, parsed] });
  }

  #parseDevice(kind: Device["kind"], device: unknown): Device {
    const definition = DEVICE_KINDS[kind];
    const { kind: _, ...fields } = device as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!definition.keys.includes(key)) {
        throw new TypeError(
          `Cannot add ${kind} device: unknown field ${JSON.stringify(key)}; use ${
            definition.keys.length === 0
              ? "none"
              : definition.keys.map((k) => JSON.stringify(k)).join(", ")
          }`,
        );
      }
    }
    return definition.parse(fields, methodField(`${kind}`), this.#profile) as Device;
  }

  /**
   * Adds a virtio-rng device fed from a host source (default `/dev/urandom`).
   *
   * @param options Source and rate limit.
   * @returns A new builder.
   */
  rng(options: Omit<RngDevice, "kind"> = {}): VmBuilder {
    return this.device({ kind: "rng", ...options });
  }

  /**
   * Adds a virtio balloon device.
   *
   * @param options Deflate on OOM, free page reporting.
   * @returns A new builder.
   */
  balloon(options: Omit<BalloonDevice, "kind"> = {}): VmBuilder {
    return this.device({ kind: "balloon", ...options });
  }

  /**
   * Adds a pvpanic device, so a guest panic reaches QMP as `GUEST_PANICKED`.
   *
   * @returns A new builder.
   * @throws {TypeError} On architectures without pvpanic (s390x).
   */
  pvpanic(): VmBuilder {
    return this.device({ kind: "pvpanic" });
  }

  /**
   * Adds a display adapter (`VGA` on x86_64, `virtio-gpu-pci` elsewhere), so `Vm.screendump`
   * has a screen to save. No window opens. `.vga(false)` removes it.
   *
   * @returns A new builder.
   * @throws {TypeError} On s390x, which has no display adapter.
   */
  vga(on = true): VmBuilder {
    if (!on) {
      return this.#with({ devices: this.#state.devices.filter((d) => d.kind !== "display") });
    }
    return this.device({ kind: "display" });
  }

  /**
   * Adds a display adapter, optionally served over VNC on `vnc.sock` in the runtime directory.
   *
   * @param options Adapter (`"std"` VGA or `"virtio"` GPU) and VNC.
   * @returns A new builder.
   * @throws {TypeError} On s390x, or for the standard VGA off x86_64.
   */
  display(options: Omit<DisplayDevice, "kind"> = {}): VmBuilder {
    return this.device({ kind: "display", ...options });
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
    const entry: FwCfgEntry = parseFwCfg(name, content, this.#state.fwCfg);
    return this.#with({ fwCfg: [...this.#state.fwCfg, entry] });
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
    const parsed = parseChardev(id, options, methodField("chardev"));
    if (this.#state.chardevs.some((chardev) => chardev.id === id)) {
      throw new TypeError(`Cannot add chardev "${id}": the id is already used`);
    }
    return this.#adding(`Cannot add chardev "${id}"`, {
      chardevs: [...this.#state.chardevs, { id, options: parsed }],
    });
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
    return this.#with({ machine: parseMachine(type, props) });
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
    return this.#with({ cpu: parseCpu(model) });
  }

  /**
   * Names the guest (`-name`), and with `process: true` QEMU's process too, so `ps` and `top`
   * show it (Linux keeps the first 15 bytes).
   *
   * @param name The name.
   * @param options Whether to name the process.
   * @returns A new builder.
   */
  name(name: string, options: { process?: boolean } = {}): VmBuilder {
    return this.#with({
      name: parseName(name),
      processName: optionalBoolean("name process", options.process),
    });
  }

  /**
   * Sets the NUMA topology: each node's CPUs and memory. The nodes' memory must add up to the
   * VM's (`.memory()`), and their CPUs lie within `.smp()`; each node gets a memory backend of
   * the VM's type (`.memory(size, { backend })`).
   *
   * @param nodes The nodes, node 0 first.
   * @returns A new builder.
   * @throws {RangeError} For a CPU in two nodes; the sums are checked when the argv is written.
   */
  numa(nodes: NumaNode[]): VmBuilder {
    return this.#with({ numa: parseNuma(nodes) });
  }

  /**
   * Locks guest memory into host RAM (`-overcommit mem-lock=on`), so it is never swapped out.
   *
   * @returns A new builder.
   */
  memLock(on = true): VmBuilder {
    return this.#with({ memLock: on });
  }

  /**
   * Sets the firmware: a `-bios` image, or UEFI-style flash: the code read-only (pflash0) and a
   * variable store (pflash1) that is the user's file (`vars`, made from `varsTemplate` when
   * missing) or a fresh copy of `varsTemplate` in the runtime directory for each launch.
   *
   * @param firmware `{ bios }` or `{ code, vars?, varsTemplate? }`.
   * @returns A new builder.
   * @throws {TypeError} For a bad path or field.
   */
  firmware(firmware: Firmware): VmBuilder {
    return this.#with({ firmware: parseFirmware(firmware) });
  }

  /**
   * Adds an SMBIOS entry the guest reads (`/sys/class/dmi/id`): type 1's serial carries
   * cloud-init's `ds=nocloud;s=http://...` seed; type 11 holds OEM strings.
   *
   * @param entry The entry.
   * @returns A new builder.
   */
  smbios(entry: SmbiosEntry): VmBuilder {
    return this.#with({ smbios: [...this.#state.smbios, parseSmbios(entry)] });
  }

  /**
   * Sets the real-time clock: its start (`base`), what drives it, drift catch-up.
   *
   * @param options Base, clock, driftfix.
   * @returns A new builder.
   */
  rtc(options: RtcOptions): VmBuilder {
    return this.#with({ rtc: parseRtc(options) });
  }

  /**
   * Makes QEMU write its process id to a file (`-pidfile`).
   *
   * @param path The file.
   * @returns A new builder.
   */
  pidFile(path: string): VmBuilder {
    return this.#with({ pidFile: checkPath("pid file", path) });
  }

  /**
   * Writes everything the console (serial port 0) prints to a file as well, while `vm.console`
   * still reads it.
   *
   * @param path The log file (truncated at launch).
   * @returns A new builder.
   */
  consoleLog(path: string): VmBuilder {
    return this.#with({ consoleLog: checkPath("console log", path) });
  }

  /**
   * Adds a QOM object (`-object`, as `object-add` takes it): an iothread, a secret, a memory
   * backend for `.arg("-device", ...)`.
   *
   * @param object `{ "qom-type": "iothread", id: "io1", ... }`.
   * @returns A new builder.
   * @throws {TypeError} For a bad type or id, an id already used, or newline/NUL in a value.
   */
  object(object: ObjectDescription): VmBuilder {
    const parsed = parseObject(object);
    return this.#adding(`Cannot add object "${parsed.id}"`, {
      objects: [...this.#state.objects, parsed],
    });
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

  /** The machine type: the one given with {@linkcode VmBuilder.machine}, else the profile's. */
  get machineType(): string {
    return machineType(this.#profile, this.#choice());
  }

  /** The virtio transport the machine uses. */
  get transport(): VirtioTransport {
    return machineTransport(this.#profile, this.#choice());
  }

  #choice(): { profile: VmProfile; machine?: string } {
    return { profile: this.#state.profile, machine: this.#state.machine?.type };
  }

  /**
   * The firmware image the VM starts: the one given with {@linkcode VmBuilder.firmware}; else
   * the fast profile's own when it boots a kernel directly on its default machine type
   * (`qboot.rom` on x86_64); else `undefined` for QEMU's default (SeaBIOS on x86_64).
   */
  get bios(): string | undefined {
    const firmware = this.#state.firmware;
    if (firmware !== undefined) return "bios" in firmware ? firmware.bios : firmware.code;
    return this.#state.kernel === undefined
      ? undefined
      : fastKernelBios(this.#profile, this.#choice());
  }

  /** Whether QEMU exits when the guest reboots (`-no-reboot`; the fast profile's default). */
  get exitsOnReboot(): boolean {
    return this.#state.noReboot ?? this.#state.profile === "fast";
  }

  /** Whether guest memory is shared with other processes (a memory backend with `share`). */
  get sharedMemory(): boolean {
    return this.#state.memoryBackend?.share === true;
  }

  /** Whether the VM has DIMM slots for memory hot-add (see {@linkcode VmBuilder.memory}). */
  get hasMemoryHotplug(): boolean {
    return this.#state.memoryHotplug !== undefined;
  }

  /** How this machine hot-adds devices, and the root port ids when it uses them. */
  get hotplug(): HotplugKind {
    return machineHotplug(
      this.#profile,
      machineType(this.#profile, this.#choice()),
      this.#state.hotplugSlots,
    );
  }

  /** Ids of the disks (not snapshot drives) and network cards plugged at boot. */
  get plugged(): { disks: string[]; nics: string[] } {
    return {
      disks: this.#state.drives.filter((drive) => !drive.snapshot).map((drive) => drive.id),
      nics: this.#state.networks.map((network, i) => network.id ?? `net${i}`),
    };
  }

  /** Why `launch()` cannot start this description, or `undefined` when it can. */
  get unlaunchable(): string | undefined {
    const tap = this.#state.networks.find((n) => n.type === "tap" && n.fd !== undefined);
    if (tap !== undefined) {
      return `network "${tap.id ?? "tap"}" uses tap fd ${
        (tap as { fd: number }).fd
      }: Deno cannot hand a child process extra file descriptors; open the tap by name (ifname), or run toShell() from a launcher that passes the descriptor`;
    }
    return undefined;
  }

  /**
   * The QEMU command line, without the binary. Pure: reads no file and gives the same argv for
   * the same builder and options.
   *
   * @param options Runtime directory of the sockets, and the accelerator `auto` resolved to.
   * @returns The arguments.
   */
  toArgv(options: ToArgvOptions = {}): string[] {
    return descriptionArgv(this.#profile, this.#state, options);
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
  resolveAccel(): AccelChoice {
    if (this.#state.accel !== "auto") {
      return { accel: this.#state.accel, reason: `requested with .accel("${this.#state.accel}")` };
    }
    return chooseAccel(this.#profile.arch, detectHostFacts());
  }

  /**
   * Starts what the devices need beside QEMU (swtpm for a TPM) in the runtime directory; used
   * by `launch()`, which stops them when the VM is released.
   *
   * @param runtimeDir The VM's runtime directory.
   * @returns What was started.
   */
  async startSidecars(runtimeDir: string): Promise<Sidecar[]> {
    await copyFirmwareVars(this.#state.firmware, runtimeDir);
    const started: Sidecar[] = [];
    const counts = new Map<string, number>();
    try {
      for (const device of this.#state.devices) {
        const index = counts.get(device.kind) ?? 0;
        counts.set(device.kind, index + 1);
        const prepare = kindOf(device).prepare;
        if (prepare !== undefined) started.push(await prepare(device, runtimeDir, index));
      }
    } catch (error) {
      for (const sidecar of started.reverse()) await sidecar.stop();
      throw error;
    }
    return started;
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

/** Makes the firmware variable store from its template, when the VM's store does not exist. */
async function copyFirmwareVars(firmware: Firmware | undefined, runtimeDir: string): Promise<void> {
  if (firmware === undefined || !("code" in firmware) || firmware.varsTemplate === undefined) {
    return;
  }
  const vars = firmwareVarsPath(firmware, runtimeDir)!;
  try {
    const file = await Deno.open(vars, { write: true, createNew: true, mode: 0o600 });
    await using _ = { [Symbol.asyncDispose]: async () => file.close() };
    const template = await Deno.open(firmware.varsTemplate);
    await template.readable.pipeTo(file.writable, { preventClose: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw error;
  }
}

function parseName(name: string): string {
  escapeOptionValue("name", name);
  return name;
}
