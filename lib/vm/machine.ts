/**
 * What an architecture profile and a machine type decide for the devices: the machine type
 * itself, the virtio transport, how devices are hot-added, and the firmware of a direct kernel
 * boot.
 *
 * @module
 */

import type { ArchProfile, VirtioTransport } from "./arch.ts";

/** `fast` (default): measured to boot a direct kernel fastest. `classic`: QEMU's own defaults. */
export type VmProfile = "fast" | "classic";

/**
 * How a machine hot-adds devices:
 * - `root-ports`: into PCIe root ports made at start (see `VmBuilder.hotplugSlots`);
 * - `bus`: straight onto its bus (pc's PCI bus, pseries, s390x channel I/O);
 * - `none`: not at all (microvm), with the reason.
 */
export type HotplugKind =
  | { kind: "root-ports"; ports: readonly string[] }
  | { kind: "bus" }
  | { kind: "none"; reason: string };

/** What a machine's facts are computed from. */
export interface MachineChoice {
  /** The vmkit profile. */
  profile: VmProfile;
  /** The machine type given with `.machine()`, if any. */
  machine?: string;
}

/** The machine type a VM uses: the one given, else the profile's. */
export function machineType(arch: Readonly<ArchProfile>, choice: MachineChoice): string {
  return choice.machine ??
    (choice.profile === "fast" ? arch.fastMachine : arch.classicMachine);
}

/** The virtio transport of the machine: PCI, MMIO (microvm) or channel I/O (s390x). */
export function machineTransport(
  arch: Readonly<ArchProfile>,
  choice: MachineChoice,
): VirtioTransport {
  if (choice.machine !== undefined && arch.arch === "x86_64") {
    return choice.machine.startsWith("microvm") ? "mmio" : "pci";
  }
  return choice.profile === "fast" ? arch.fastTransport : arch.classicTransport;
}

/**
 * The driver of a virtio device on a transport: `virtio-blk` → `virtio-blk-pci`,
 * `virtio-blk-device` (MMIO) or `virtio-blk-ccw`.
 */
export function virtioDriver(transport: VirtioTransport, device: string): string {
  return `virtio-${device}-${transport === "mmio" ? "device" : transport}`;
}

/** Whether the machine has a PCI Express root complex (q35, virt on aarch64 and riscv64). */
export function isPcie(arch: Readonly<ArchProfile>, machine: string): boolean {
  return arch.arch === "x86_64"
    ? machine === "q35" || machine.startsWith("pc-q35")
    : (arch.arch === "aarch64" || arch.arch === "riscv64") && machine.startsWith("virt");
}

/** How the machine hot-adds devices, with `slots` root ports on PCI Express machines. */
export function machineHotplug(
  arch: Readonly<ArchProfile>,
  machine: string,
  slots: number,
): HotplugKind {
  if (machine.startsWith("microvm")) {
    return { kind: "none", reason: `machine "${machine}" cannot hotplug devices` };
  }
  if (!isPcie(arch, machine)) return { kind: "bus" };
  return { kind: "root-ports", ports: Array.from({ length: slots }, (_, i) => `vmkit-hp${i}`) };
}

/**
 * The firmware of a direct kernel boot in the fast profile on its own machine type (qboot on
 * x86_64), else `undefined` for QEMU's default.
 */
export function fastKernelBios(
  arch: Readonly<ArchProfile>,
  choice: MachineChoice,
): string | undefined {
  return choice.profile === "fast" && machineType(arch, choice) === arch.fastMachine
    ? arch.fastKernelFirmware
    : undefined;
}
