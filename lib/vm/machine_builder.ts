/**
 * The machine half of the VM builder: architecture, accelerator, machine type, CPU, memory,
 * firmware, clock and the other options of the machine itself. {@linkcode VmBuilder} adds the
 * devices.
 *
 * @module
 */

import { type AccelChoice, type AccelRequest, chooseAccel } from "./accel.ts";
import type { Arch, ArchProfile, VirtioTransport } from "./arch.ts";
import { detectHostFacts } from "./_host.ts";
import { checkEnum, checkFlag } from "./_validate.ts";
import {
  type KernelOptions,
  type MemoryOptions,
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
  parseFirmware,
  parseGlobal,
  parseRtc,
  parseSmbios,
  parseUuid,
  type RtcOptions,
  type SmbiosEntry,
} from "./_platform_options.ts";
import {
  fastKernelBios,
  type HotplugKind,
  machineHotplug,
  machineTransport,
  machineType,
  type VmProfile,
} from "./machine.ts";
import { choiceOf, profileOf, stateOf, withState } from "./_builder_state.ts";
import { QemuProcessBuilder } from "./process_builder.ts";

/**
 * The machine options of a VM description; every method returns a new builder of the same
 * class. Use {@linkcode vm}, which makes a {@linkcode VmBuilder}.
 */
export class MachineBuilder extends QemuProcessBuilder {
  /** The guest architecture. */
  get arch(): Arch {
    return profileOf(this).arch;
  }

  /** The architecture profile in use. */
  get archProfile(): Readonly<ArchProfile> {
    return profileOf(this);
  }

  /** The requested accelerator. */
  get requestedAccel(): AccelRequest {
    return stateOf(this).accel;
  }

  /** The machine type: the one given with {@linkcode VmBuilder.machine}, else the profile's. */
  get machineType(): string {
    return machineType(profileOf(this), choiceOf(stateOf(this)));
  }

  /** The virtio transport the machine uses. */
  get transport(): VirtioTransport {
    return machineTransport(profileOf(this), choiceOf(stateOf(this)));
  }

  /**
   * The firmware image the VM starts: the one given with {@linkcode VmBuilder.firmware}; else
   * the fast profile's own when it boots a kernel directly on its default machine type
   * (`qboot.rom` on x86_64); else `undefined` for QEMU's default (SeaBIOS on x86_64).
   */
  get bios(): string | undefined {
    const firmware = stateOf(this).firmware;
    if (firmware !== undefined) {
      if ("bios" in firmware) return firmware.bios;
      if ("code" in firmware) return firmware.code;
      return undefined;
    }
    return stateOf(this).kernel === undefined
      ? undefined
      : fastKernelBios(profileOf(this), choiceOf(stateOf(this)));
  }

  /** Whether the firmware is UEFI (`.firmware("uefi")`, or flash marked `uefi`). */
  get uefiFirmware(): boolean {
    const firmware = stateOf(this).firmware;
    if (firmware === undefined) return false;
    if ("interface" in firmware) return firmware.interface === "uefi";
    return "code" in firmware && firmware.uefi === true;
  }

  /** Whether QEMU exits when the guest reboots (`-no-reboot`; the fast profile's default). */
  get exitsOnReboot(): boolean {
    return stateOf(this).noReboot ?? stateOf(this).profile === "fast";
  }

  /** Whether guest memory is shared with other processes (a memory backend with `share`). */
  get sharedMemory(): boolean {
    return stateOf(this).memoryBackend?.share === true;
  }

  /** Whether the VM has DIMM slots for memory hot-add (see {@linkcode VmBuilder.memory}). */
  get hasMemoryHotplug(): boolean {
    return stateOf(this).memoryHotplug !== undefined;
  }

  /** How this machine hot-adds devices, and the root port ids when it uses them. */
  get hotplug(): HotplugKind {
    return machineHotplug(
      profileOf(this),
      machineType(profileOf(this), choiceOf(stateOf(this))),
      stateOf(this).hotplugSlots,
    );
  }

  /**
   * Picks the profile. `fast` (default) uses the machine type, devices and kernel options
   * measured to boot fastest (q35 with `-nodefaults` and a quiet kernel on x86_64); `classic`
   * leaves QEMU's defaults as they are (pc on x86_64, default devices, your command line only).
   *
   * @param profile `"fast"` or `"classic"`.
   * @returns A new builder.
   */
  profile(profile: VmProfile): this {
    return withState(this, { profile: checkEnum("profile", profile, ["fast", "classic"]) });
  }

  /**
   * Picks the accelerator. `auto` (default) uses KVM only where KVM guests will run (see
   * {@linkcode chooseAccel}); the `VMKIT_ACCEL` environment variable overrides `auto`.
   *
   * @param accel `"auto"`, `"kvm"` or `"tcg"`.
   * @returns A new builder.
   */
  accel(accel: AccelRequest): this {
    return withState(this, { accel: checkEnum("accel", accel, ["auto", "kvm", "tcg"]) });
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
  memory(size: string | number, options: MemoryOptions = {}): this {
    return withState(this, parseMemory(size, options));
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
  hotplugSlots(count: number): this {
    if (!Number.isInteger(count) || count < 0 || count > 32) {
      throw new RangeError(
        `Cannot add ${String(count)} hotplug slots: use a whole number from 0 to 32`,
      );
    }
    const hotplug = this.hotplug;
    if (count > 0 && hotplug.kind === "none") {
      throw new RangeError(`Cannot add hotplug slots: ${hotplug.reason}`);
    }
    return withState(this, { hotplugSlots: count });
  }

  /**
   * Starts QEMU waiting for an incoming migration (`-incoming defer`) instead of booting; use it
   * as the destination of `Vm.migrateTo`. The destination must be built like the source.
   *
   * @returns A new builder.
   */
  incoming(on = true): this {
    return withState(this, { incoming: checkFlag("incoming", on) });
  }

  /**
   * Sets the CPU count, or the whole SMP topology.
   *
   * @param smp A CPU count, or the topology.
   * @returns A new builder.
   * @throws {RangeError} When the topology is inconsistent: sockets × cores × threads must equal
   *   maxcpus (or cpus), and cpus may not exceed maxcpus.
   */
  smp(smp: number | SmpOptions): this {
    return withState(this, { smp: parseSmp(smp) });
  }

  /**
   * Boots a kernel directly.
   *
   * @param path Kernel image on the host.
   * @param options Initrd and command line.
   * @returns A new builder.
   * @throws {TypeError} When a path or the command line contains newline or NUL.
   */
  kernel(path: string, options: KernelOptions = {}): this {
    return withState(this, { kernel: parseKernel(path, options) });
  }

  /** Exit instead of rebooting (`-no-reboot`); on by default in the fast profile. @returns A new builder. */
  noReboot(on = true): this {
    return withState(this, { noReboot: checkFlag("noReboot", on) });
  }

  /** Start with the CPUs stopped (`-S`); resume with QMP `cont`. @returns A new builder. */
  paused(on = true): this {
    return withState(this, { paused: checkFlag("paused", on) });
  }

  /** No default devices (`-nodefaults`); on by default in the fast profile. @returns A new builder. */
  nodefaults(on = true): this {
    return withState(this, { nodefaults: checkFlag("nodefaults", on) });
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
  machine(type: string, props: Record<string, string> = {}): this {
    return withState(this, { machine: parseMachine(type, props) });
  }

  /**
   * Overrides the CPU model (default: `host` under KVM; under TCG the profile's model, such as
   * `kvm64,+rdrand` on x86_64 and `max,pauth=off` on aarch64).
   *
   * @param model Such as `"max"`, optionally with properties (`"max,pmu=off"`, `"max,+avx2"`).
   * @returns A new builder.
   * @throws {TypeError} When the model is not a plain name, or a property is not `key=value`,
   *   `+feature` or `-feature`.
   */
  cpu(model: string): this {
    return withState(this, { cpu: parseCpu(model) });
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
  numa(nodes: NumaNode[]): this {
    return withState(this, { numa: parseNuma(nodes) });
  }

  /**
   * Locks guest memory into host RAM (`-overcommit mem-lock=on`), so it is never swapped out.
   *
   * @returns A new builder.
   */
  memLock(on = true): this {
    return withState(this, { memLock: checkFlag("memLock", on) });
  }

  /**
   * Sets the firmware:
   * - `"uefi"` or `"bios"` (or `{ interface, secureBoot, enrolledKeys, vars }`): found through
   *   QEMU's firmware descriptors when the VM launches, as libvirt does (Debian: `ovmf` on
   *   x86_64, `qemu-efi-aarch64` on aarch64); `"bios"` without a descriptor is QEMU's own
   *   default (SeaBIOS on x86_64);
   * - `{ bios }`: a `-bios` image; `{ builtin: true }`: QEMU's default, not the fast profile's
   *   qboot;
   * - `{ code, vars?, varsTemplate? }`: flash, the code read-only (pflash0) and a variable store
   *   (pflash1) that is the user's file (`vars`, made from the template when missing) or a fresh
   *   copy of `varsTemplate` in the runtime directory for each launch.
   *
   * @param firmware What to boot.
   * @returns A new builder.
   * @throws {TypeError} For a bad path or field.
   *
   * @example
   * ```ts
   * import { vm } from "@vmkit/vmkit";
   * await using guest = await vm({ arch: "x86_64" }).firmware("uefi").drive("disk.qcow2").launch();
   * ```
   */
  firmware(firmware: Firmware | "uefi" | "bios"): this {
    return withState(this, { firmware: parseFirmware(firmware) });
  }

  /**
   * Adds an SMBIOS entry the guest reads (`/sys/class/dmi/id`): type 1's serial carries
   * cloud-init's `ds=nocloud;s=http://...` seed; type 11 holds OEM strings.
   *
   * @param entry The entry.
   * @returns A new builder.
   */
  smbios(entry: SmbiosEntry): this {
    return withState(this, { smbios: [...stateOf(this).smbios, parseSmbios(entry)] });
  }

  /**
   * Sets the real-time clock: its start (`base`), what drives it, drift catch-up.
   *
   * @param options Base, clock, driftfix.
   * @returns A new builder.
   */
  rtc(options: RtcOptions): this {
    return withState(this, { rtc: parseRtc(options) });
  }

  /**
   * Adds a firmware configuration entry the guest reads from `/sys/firmware/qemu_fw_cfg`.
   *
   * @param name Entry name; must start with `opt/` (QEMU's rule for user entries), ≤ 55 bytes.
   * @param content `{ file }` on the host or `{ string }`.
   * @returns A new builder.
   * @throws {RangeError} When the name breaks QEMU's rules or is used twice.
   */
  fwCfg(name: string, content: { file: string } | { string: string }): this {
    const entry = parseFwCfg(name, content, stateOf(this).fwCfg);
    return withState(this, { fwCfg: [...stateOf(this).fwCfg, entry] });
  }

  /**
   * Resolves `auto` to KVM or TCG for this host, reading `/dev/kvm` and `/proc/cpuinfo` when
   * Deno may (never prompting).
   *
   * @returns The accelerator and why.
   */
  resolveAccel(): AccelChoice {
    const accel = stateOf(this).accel;
    if (accel !== "auto") return { accel, reason: `requested with .accel("${accel}")` };
    return chooseAccel(profileOf(this).arch, detectHostFacts());
  }

  /**
   * Sets the VM's UUID (`-uuid`), which the guest reads from SMBIOS.
   *
   * @param uuid Such as `"01234567-89ab-cdef-0123-456789abcdef"`.
   * @returns A new builder.
   */
  uuid(uuid: string): this {
    return withState(this, { uuid: parseUuid(uuid) });
  }

  /**
   * Sets a default property of every device of a driver (`-global driver.property=value`), such
   * as `global("virtio-pci", "iommu_platform", "on")`.
   *
   * @param driver The driver.
   * @param property The property.
   * @param value Its value.
   * @returns A new builder.
   */
  global(driver: string, property: string, value: string): this {
    const parsed = parseGlobal({ driver, property, value });
    return withState(this, { globals: [...stateOf(this).globals, parsed] });
  }
}
