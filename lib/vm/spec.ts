/**
 * What launching and running a VM need of its description. `VmBuilder` is one; `launch()` and
 * `Vm` depend on this interface only, not on the builder.
 *
 * @module
 */

import type { AccelChoice } from "./accel.ts";
import type { Arch, ArchProfile, VirtioTransport } from "./arch.ts";
import type { ImageFormat } from "./image_format.ts";
import type { HotplugKind } from "./machine.ts";
import type { ToArgvOptions } from "./argv.ts";
import type { InputFile, LaunchFacts, Sidecar } from "./devices/_kind.ts";
import type { Device } from "./devices/_registry.ts";

export type { InputFile, LaunchFacts, Sidecar };

/** A VM description as `launch()` and `Vm` use it. */
export interface VmSpec {
  /** Guest architecture. */
  readonly arch: Arch;
  /** The architecture profile. */
  readonly archProfile: Readonly<ArchProfile>;
  /** The machine type. */
  readonly machineType: string;
  /** The QEMU binary. */
  readonly binary: string;
  /** Files that must exist before QEMU starts. */
  readonly inputFiles: InputFile[];
  /** The drives: id, file and format when given. */
  readonly drives: { id: string; file: string; format?: ImageFormat }[];
  /** Extra QMP sockets. */
  readonly qmpSockets: readonly string[];
  /** How the machine hot-adds devices. */
  readonly hotplug: HotplugKind;
  /** The virtio transport. */
  readonly transport: VirtioTransport;
  /** Whether guest memory is shared (vhost-user devices need it). */
  readonly sharedMemory: boolean;
  /** Whether there are DIMM slots. */
  readonly hasMemoryHotplug: boolean;
  /** Whether QEMU exits when the guest reboots. */
  readonly exitsOnReboot: boolean;
  /** Whether the firmware is UEFI: it cannot start an ELF `vmlinux`. */
  readonly uefiFirmware: boolean;
  /** The firmware of a direct kernel boot, or `undefined` for QEMU's default. */
  readonly bios: string | undefined;
  /**
   * Ids of the disks (not snapshot drives) and network cards plugged at boot: `Vm.removeDisk`
   * and `Vm.removeNic` remove their backends too.
   */
  readonly plugged: { disks: string[]; nics: string[] };
  /** The devices of the generic list. */
  readonly devices: readonly Device[];
  /** Whether the VM has the guest agent's channel: vmkit listens on `qga.sock` for it. */
  readonly hasGuestAgent: boolean;
  /** Why `launch()` cannot start this description, if it cannot. */
  readonly unlaunchable: string | undefined;
  /** Resolves the accelerator. */
  resolveAccel(): AccelChoice;
  /** The command line. */
  toArgv(options?: ToArgvOptions): string[];
  /** Checks the host for the devices beyond their files (a PCI device bound to vfio-pci). */
  preflightDevices(): Promise<void>;
  /**
   * The description with everything found on the host that `toArgv()` needs and cannot read
   * itself: firmware named by what it is (`"uefi"`), through QEMU's firmware descriptors.
   */
  resolved(): Promise<VmSpec>;
  /** Starts what the devices need beside QEMU (swtpm) in the runtime directory. */
  startSidecars(runtimeDir: string): Promise<{ sidecars: Sidecar[]; facts: LaunchFacts }>;
}
