/**
 * The immutable VM builder: a thin, fluent collector of a VM description (the machine options
 * of {@linkcode MachineBuilder}, and the devices), which turns into an argv
 * ({@linkcode descriptionArgv}) and launches.
 *
 * @module
 */

import { archProfile } from "./arch.ts";
import type { Arch } from "./arch.ts";
import { shellQuote } from "./qemu_opts.ts";
import type { ImageFormat } from "./image_format.ts";
import { type LaunchOptions, launchVm } from "./launch.ts";
import type { Vm } from "./vm.ts";
import { preflight, type PreflightReport } from "./preflight.ts";
import type { WaitOptions } from "../_deadline.ts";
import { checkEnum, checkFlag, defined, methodField, rethrowWithin } from "./_validate.ts";
import { type FirmwareDescriptorOptions, firmwareDescriptors, selectFirmware } from "./firmware.ts";
import { type ObjectDescription, parseObject } from "./_platform_options.ts";
import { parseDescription, toDescription, type VmDescription } from "./description.ts";
import type { VmState } from "./_vm_state.ts";
import { descriptionArgv, type ToArgvOptions } from "./argv.ts";
import { type DriveOptions, parseDrive } from "./devices/disk.ts";
import { type NetworkOptions, parseNetwork } from "./devices/network.ts";
import { type ChardevOptions, parseChardev } from "./devices/chardev.ts";
import { type Device, DEVICE_KINDS, kindOf } from "./devices/_registry.ts";
import type { InputFile, LaunchFacts, Sidecar, VmSpec } from "./spec.ts";
import type { BalloonDevice } from "./devices/balloon.ts";
import type { DisplayDevice } from "./devices/display.ts";
import type { RngDevice } from "./devices/rng.ts";
import { type SshDevice, withSshForward } from "./devices/ssh.ts";
import type { CloudInitDevice } from "./devices/cloud_init_seed.ts";
import { MachineBuilder } from "./machine_builder.ts";
import { holdState, profileOf, stateOf, withState } from "./_builder_state.ts";
import {
  checkReferences,
  inputFilesOf,
  pluggedOf,
  startSidecars,
  unlaunchableOf,
} from "./_builder_facts.ts";

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
 * ```ts
 * declare const initrdPath: string, kernelPath: string;
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
export class VmBuilder extends MachineBuilder implements VmSpec {
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
    holdState(builder, archProfile(arch), state);
    // Writing the command line checks what only the whole description shows (ids and other
    // values used twice, NUMA sums, shared memory for vhost-user devices, machine-dependent
    // devices): done now, not at launch. Drive formats do not matter here.
    // Firmware named by what it is is found at launch; it takes no part in these checks.
    const firmware = state.firmware;
    const checked = firmware !== undefined && "interface" in firmware
      ? withState(builder, { firmware: { builtin: true } })
      : builder;
    try {
      checked.toArgv({
        driveFormats: Object.fromEntries(state.drives.map((d) => [d.id, d.format ?? "raw"])),
      });
    } catch (error) {
      rethrowWithin("Cannot read VM description: ", error, /^Cannot (write the command line: )?/);
    }
    return builder;
  }

  /**
   * The description as plain data: only what was set, ready for `JSON.stringify`.
   *
   * @returns The description; `VmBuilder.fromJSON` turns it back into an equal builder.
   */
  toJSON(): VmDescription {
    return toDescription(profileOf(this).arch, stateOf(this));
  }

  /** Adds to a list and checks that no id is taken twice. */
  #adding(action: string, change: Partial<VmState>): VmBuilder {
    const next = withState(this, change);
    checkReferences(stateOf(next), action);
    return next;
  }

  /** The drives, in order: id, file and format (`undefined` until `launch()` reads it). */
  get drives(): { id: string; file: string; format?: ImageFormat }[] {
    return stateOf(this).drives.map((drive) => ({
      id: drive.id,
      file: drive.file,
      ...drive.format === undefined ? {} : { format: drive.format },
    }));
  }

  /** The devices of the generic list ({@linkcode VmBuilder.device}), in order. */
  get devices(): readonly Device[] {
    return structuredClone(stateOf(this).devices) as Device[];
  }

  /**
   * This description with firmware named by what it is (`.firmware("uefi")`) found in QEMU's
   * firmware descriptors for its architecture and machine type, as `launch()` does first.
   *
   * @param options Descriptor directories (default QEMU's, then `/etc`, then the user's).
   * @returns A builder with the firmware's files; this one when there is nothing to find.
   * @throws {Deno.errors.NotFound} When no firmware fits, naming the Debian package.
   */
  async resolved(options: FirmwareDescriptorOptions = {}): Promise<VmBuilder> {
    const firmware = stateOf(this).firmware;
    if (firmware === undefined || !("interface" in firmware)) return this;
    const descriptors = await firmwareDescriptors(options);
    const p = profileOf(this);
    if (
      firmware.interface === "bios" &&
      !descriptors.some((d) => d.interfaceTypes.includes("bios"))
    ) {
      return withState(this, { firmware: { builtin: true } });
    }
    const found = selectFirmware(descriptors, p.arch, this.machineType, {
      interface: firmware.interface,
      ...firmware.secureBoot === undefined ? {} : { secureBoot: firmware.secureBoot },
      ...firmware.enrolledKeys === undefined ? {} : { enrolledKeys: firmware.enrolledKeys },
    });
    if (found.device === "memory") return withState(this, { firmware: { bios: found.executable } });
    return withState(this, {
      firmware: defined({
        code: found.executable,
        varsTemplate: found.nvramTemplate,
        vars: firmware.vars,
        secure: found.features.includes("requires-smm") || undefined,
        uefi: found.interfaceTypes.includes("uefi") || undefined,
      }),
    });
  }

  /** Kernel, initrd, drive, fw_cfg, firmware and device files that must exist before QEMU starts. */
  get inputFiles(): InputFile[] {
    return inputFilesOf(stateOf(this));
  }

  /**
   * Adds a disk: virtio-blk by default, or on virtio-scsi, NVMe, IDE/AHCI or USB; a hard disk
   * or a CD-ROM (`media: "cdrom"`, on virtio-scsi by default).
   *
   * @param file Image file on the host.
   * @param options Format, interface, media, read-only, snapshot, cache, aio, discard,
   *   detect-zeroes, iothread, id, serial, boot index.
   * @returns A new builder.
   * @throws {TypeError} For a bad value, a duplicate id, or options that conflict (naming both:
   *   a cdrom on virtio-blk/nvme/usb, a read-only IDE hard disk, discard on a read-only drive, a
   *   write-through USB disk...).
   * @throws {RangeError} For `aio: "native"` without `cache` `none` or `directsync`, or a serial
   *   longer than its interface shows.
   *
   * @example
   * ```ts
   * import { vm } from "@vmkit/vmkit";
   * const builder = vm({ arch: "x86_64" })
   *   .drive("root.qcow2", { format: "qcow2", discard: true, detectZeroes: "unmap" })
   *   .drive("seed.iso", { format: "raw", media: "cdrom" });
   * console.log(builder.toArgv().some((arg) => arg.includes('"driver":"scsi-cd"'))); // true
   * ```
   */
  drive(file: string, options: DriveOptions = {}): VmBuilder {
    const drive = parseDrive(
      { ...options, file },
      methodField("drive"),
      `drive${stateOf(this).drives.length}`,
    );
    return this.#adding(`Cannot add drive "${file}"`, {
      drives: [...stateOf(this).drives, drive],
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
    if (network === "none") return withState(this, { networks: [], networkNone: true });
    const parsed = parseNetwork(network, methodField("network"));
    return this.#adding("Cannot add the network", {
      networks: [...stateOf(this).networks, parsed],
      networkNone: false,
    });
  }

  /**
   * Adds a device of the generic list, described as data: `{ kind: "rng" }`,
   * `{ kind: "balloon", deflateOnOom: true }`, `{ kind: "display", vnc: true }`... A kind a VM
   * has only one of (rng, balloon, display, pvpanic, vsock, watchdog, iommu, tpm) replaces the
   * one there.
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
      ? stateOf(this).devices.filter((d) => d.kind !== kind)
      : stateOf(this).devices;
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
    return definition.parse(fields, methodField(`${kind}`), profileOf(this)) as Device;
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
   * Adds the QEMU guest agent's channel: a virtio-serial port `org.qemu.guest_agent.0` whose
   * host end vmkit holds, so the running VM's `vm.agent` runs programs, moves files and shuts
   * the guest down through `qemu-ga` in the guest (Debian's `qemu-guest-agent`; the tiny guest
   * starts it when it has it).
   *
   * @returns A new builder.
   *
   * @example
   * ```ts
   * declare const initrd: string, kernel: string;
   * await using guest = await vm({ arch: "x86_64" }).kernel(kernel, { initrd }).guestAgent().launch();
   * console.log((await guest.agent.exec(["uname", "-r"])).stdout);
   * ```
   */
  guestAgent(): VmBuilder {
    return this.device({ kind: "guest-agent" });
  }

  /**
   * Lets `vm.ssh` log into the guest: a key pair made for the VM at launch (or `identity`), given
   * to the guest by the cloud-init seed (`.cloudInit()`) with a host key vmkit knows, so ssh
   * checks the guest strictly from the first connection; and a forward from a free host port
   * (picked at launch) to guest port 22 on the first user-mode network, which it adds when the
   * VM has none.
   *
   * @param options The user (default `"vmkit"`, made by the seed with passwordless sudo; another
   *   name gets the key as the image's default user), a private key of your own.
   * @returns A new builder.
   * @throws {TypeError} For a bad user name or key path.
   *
   * @example
   * ```ts
   * await using guest = await vm({ arch: "x86_64" }).memory("1G").drive("overlay.qcow2")
   *   .cloudInit({ userData: { packages: ["jq"] } }).ssh().launch();
   * await guest.ready({ stages: ["ssh"] });
   * console.log((await guest.ssh.exec("uname -a")).stdout, guest.ssh.command());
   * ```
   */
  ssh(options: Omit<SshDevice, "kind"> = {}): VmBuilder {
    const networks = withSshForward(stateOf(this).networks);
    return withState(this, { networks, networkNone: false }).device({ kind: "ssh", ...options });
  }

  /**
   * Gives the guest a cloud-init seed made at launch: NoCloud (or ConfigDrive) on a read-only
   * virtio disk, or served over HTTP (`via: "http"`) until the VM stops. With
   * {@linkcode VmBuilder.ssh}, the seed also carries the VM's login and host keys. A VM has one
   * seed: a second call replaces the first.
   *
   * @param options User-data (an object or text), meta-data, network config, vendor-data,
   *   format, how it reaches the guest.
   * @returns A new builder.
   * @throws {TypeError} For user-data cloud-init would not act on, or options that do not fit
   *   the format.
   */
  cloudInit(options: Omit<CloudInitDevice, "kind"> = {}): VmBuilder {
    return this.device({ kind: "cloud-init", ...options });
  }

  /** Whether the VM has the guest agent's channel (`.guestAgent()`). */
  get hasGuestAgent(): boolean {
    return stateOf(this).devices.some((device) => device.kind === "guest-agent");
  }

  /**
   * Adds a display adapter (`VGA` on x86_64, `virtio-gpu-pci` elsewhere), so `Vm.screendump`
   * has a screen to save. No window opens. `.vga(false)` removes it.
   *
   * @returns A new builder.
   * @throws {TypeError} On s390x, which has no display adapter.
   */
  vga(on = true): VmBuilder {
    if (!checkFlag("vga", on)) {
      return withState(this, {
        devices: stateOf(this).devices.filter((d) => d.kind !== "display"),
      });
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
   * Adds a character device, for {@linkcode VmBuilder.serial} or a `-device` given by `.arg()`.
   *
   * @param id Chardev id.
   * @param options Backend and its path.
   * @returns A new builder.
   * @throws {TypeError} For a bad id, backend or path, or a duplicate id.
   */
  chardev(id: string, options: ChardevOptions): VmBuilder {
    const parsed = parseChardev(id, options, methodField("chardev"));
    if (stateOf(this).chardevs.some((chardev) => chardev.id === id)) {
      throw new TypeError(`Cannot add chardev "${id}": the id is already used`);
    }
    return this.#adding(`Cannot add chardev "${id}"`, {
      chardevs: [...stateOf(this).chardevs, { id, options: parsed }],
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
    if (!stateOf(this).chardevs.some((chardev) => chardev.id === chardevId)) {
      throw new TypeError(
        `Cannot add serial port on chardev "${chardevId}": add it with .chardev() first`,
      );
    }
    return withState(this, { serials: [...stateOf(this).serials, chardevId] });
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
      objects: [...stateOf(this).objects, parsed],
    });
  }

  /** Ids of the disks (not snapshot drives) and network cards plugged at boot. */
  get plugged(): { disks: string[]; nics: string[] } {
    return pluggedOf(stateOf(this));
  }

  /** Why `launch()` cannot start this description, or `undefined` when it can. */
  get unlaunchable(): string | undefined {
    return unlaunchableOf(stateOf(this));
  }

  /**
   * The QEMU command line, without the binary. Pure: reads no file and gives the same argv for
   * the same builder and options.
   *
   * @param options Runtime directory of the sockets, and the accelerator `auto` resolved to.
   * @returns The arguments.
   */
  toArgv(options: ToArgvOptions = {}): string[] {
    return descriptionArgv(profileOf(this), stateOf(this), options);
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
   * Checks the host for the devices beyond their files, as `launch()` does before QEMU starts:
   * a PCI device to pass through must be bound to vfio-pci, with its whole IOMMU group.
   *
   * @returns When the host is ready.
   * @throws {Error} Saying what stops a device and what to do.
   */
  async preflightDevices(): Promise<void> {
    for (const device of stateOf(this).devices) await kindOf(device).preflight?.(device);
  }

  /**
   * Starts what the devices need beside QEMU (swtpm for a TPM) in the runtime directory; used
   * by `launch()`, which stops them when the VM is released.
   *
   * @param runtimeDir The VM's runtime directory.
   * @returns What was started.
   */
  startSidecars(runtimeDir: string): Promise<{ sidecars: Sidecar[]; facts: LaunchFacts }> {
    return startSidecars(stateOf(this), runtimeDir);
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
   * ```ts
   * const report = await vm({ arch: "x86_64" }).arg("-device", "virtio-gpu-gl-pci").check();
   * ```
   */
  async check(options: WaitOptions = {}): Promise<PreflightReport> {
    const resolved = await this.resolved();
    const accel = resolved.resolveAccel().accel;
    return await preflight(resolved.binary, resolved.toArgv({ accel }), options);
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
