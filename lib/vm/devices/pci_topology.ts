/**
 * PCI topology: PCI Express root ports, PCIe-to-PCI bridges and PCI-PCI bridges, which other
 * devices can be placed on (`bus: "<id>"`).
 *
 * Placement follows QEMU's PCI Express guidelines (docs/pcie.txt): root ports sit on the root
 * complex of a PCI Express machine (q35, virt on aarch64 and riscv64); a PCI-PCI bridge on a
 * PCI Express machine sits behind a PCIe-to-PCI bridge, which vmkit adds
 * (`vmkit-pcie-pci-bridge`) when the bridge names no bus; on a PCI machine (pc, pseries) it
 * sits on the PCI bus.
 *
 * Chassis numbers: vmkit's hotplug root ports (`.hotplugSlots(n)`) take
 * chassis 1 to 32, slot 0. A root port without a `chassis` takes 33 + its index among root
 * ports; a PCI-PCI bridge without one takes 255 − its index among bridges. A root port's chassis
 * and slot pair, and a bridge's chassis, must be unique: vmkit refuses a clash.
 *
 * @module
 */

import { checkId } from "../_checks.ts";
import { defined, type Field, optionalInteger } from "../_validate.ts";
import { isPcie } from "../machine.ts";
import type { DeviceKind } from "./_kind.ts";
import { busOf, type PlanContext } from "./_plan.ts";

/** A PCI Express root port (`pcie-root-port`): one slot for a PCIe device, hotplug capable. */
export interface PcieRootPortDevice {
  /** The kind of this description: `"pcie-root-port"`. */
  kind: "pcie-root-port";
  /** Device id, which devices placed in the port name as their bus. */
  id: string;
  /** Chassis number, 0 or 33 to 255; default 33 + the port's index among root ports. */
  chassis?: number;
  /** Physical slot number, 0 to 8191; default 0. */
  slot?: number;
  /** The root bus to sit on; default the machine's root complex (`pcie.0`). */
  bus?: string;
}

/** A PCI Express to PCI bridge (`pcie-pci-bridge`): a PCI bus of 31 slots on a PCIe machine. */
export interface PciePciBridgeDevice {
  /** The kind of this description: `"pcie-pci-bridge"`. */
  kind: "pcie-pci-bridge";
  /** Device id, which devices placed behind the bridge name as their bus. */
  id: string;
  /** The bus to sit on: a root port's id, or default the root complex. */
  bus?: string;
}

/** A PCI-PCI bridge (`pci-bridge`): a PCI bus of 31 slots, hotplug capable. */
export interface PciBridgeDevice {
  /** The kind of this description: `"pci-bridge"`. */
  kind: "pci-bridge";
  /** Device id, which devices placed behind the bridge name as their bus. */
  id: string;
  /** Chassis number, 1 to 255; default 255 − the bridge's index among bridges. */
  chassis?: number;
  /**
   * The bus to sit on: a `pcie-pci-bridge` or another `pci-bridge`. Default: on a PCI Express
   * machine, a PCIe-to-PCI bridge vmkit adds (`vmkit-pcie-pci-bridge`); else the PCI bus.
   */
  bus?: string;
}

/** The chassis numbers of vmkit's hotplug root ports: 1 to this. */
const HOTPLUG_CHASSIS_MAX = 32;
/** The chassis of the first root port without one. */
const FIRST_ROOT_PORT_CHASSIS = HOTPLUG_CHASSIS_MAX + 1;
/** The chassis of the first PCI-PCI bridge without one; the next ones count down. */
const FIRST_BRIDGE_CHASSIS = 255;
/** The PCIe-to-PCI bridge vmkit adds for PCI-PCI bridges that name no bus. */
const VMKIT_PCIE_PCI_BRIDGE = "vmkit-pcie-pci-bridge";

function rootPortChassis(device: PcieRootPortDevice, index: number): number {
  return device.chassis ?? FIRST_ROOT_PORT_CHASSIS + index;
}

function bridgeChassis(device: PciBridgeDevice, index: number): number {
  return device.chassis ?? FIRST_BRIDGE_CHASSIS - index;
}

function optionalBus(kind: string, value: unknown): string | undefined {
  return value === undefined ? undefined : checkId(`${kind} bus`, value as string);
}

function requirePcie(kind: string, id: string, ctx: PlanContext, instead: string): void {
  if (!isPcie(ctx.arch, ctx.machine)) {
    throw new TypeError(
      `Cannot add ${kind} "${id}": machine "${ctx.machine}" is not PCI Express (q35 on x86_64, virt on aarch64 and riscv64); ${instead}`,
    );
  }
}

/** The pcie-root-port kind. */
export const pcieRootPortKind: DeviceKind<PcieRootPortDevice> = {
  keys: ["id", "chassis", "slot", "bus"],
  early: true,
  parse(v, field: Field) {
    const device = defined({
      kind: "pcie-root-port" as const,
      id: checkId("pcie-root-port", v.id as string),
      chassis: optionalInteger(field("chassis"), v.chassis, 0, 255),
      slot: optionalInteger(field("slot"), v.slot, 0, 8191),
      bus: optionalBus("pcie-root-port", v.bus),
    });
    const chassis = device.chassis;
    if (chassis !== undefined && chassis >= 1 && chassis <= HOTPLUG_CHASSIS_MAX && !device.slot) {
      throw new RangeError(
        `Cannot set ${
          field("chassis")
        } to ${chassis} with slot 0: chassis 1 to ${HOTPLUG_CHASSIS_MAX}, slot 0 are vmkit's hotplug slots (.hotplugSlots); use chassis 0 or ${FIRST_ROOT_PORT_CHASSIS} to 255, or another slot`,
      );
    }
    return device;
  },
  plan(device, ctx, index) {
    requirePcie(
      "pcie-root-port",
      device.id,
      ctx,
      `use machine "q35" (.machine("q35")), or a pci-bridge`,
    );
    const chassis = rootPortChassis(device, index);
    if (chassis > 255) {
      throw new RangeError(
        `Cannot add pcie-root-port "${device.id}": a root port without a chassis takes ${FIRST_ROOT_PORT_CHASSIS} + its index, and index ${index} gives ${chassis}, past 255; give it a chassis`,
      );
    }
    const args = defined({
      driver: "pcie-root-port",
      id: device.id,
      chassis,
      slot: device.slot,
      bus: device.bus,
    });
    return [{
      kind: "arg",
      argv: ["-device", JSON.stringify(args)],
      why: "a PCIe root port sits on a root bus, which takes no hot-added devices",
    }];
  },
  ids: (device) => [device.id],
  unique: (device, index) => [
    `PCIe chassis ${rootPortChassis(device, index)} slot ${device.slot ?? 0}`,
  ],
};

/** The pcie-pci-bridge kind. */
export const pciePciBridgeKind: DeviceKind<PciePciBridgeDevice> = {
  keys: ["id", "bus"],
  early: true,
  parse(v) {
    return defined({
      kind: "pcie-pci-bridge" as const,
      id: checkId("pcie-pci-bridge", v.id as string),
      bus: optionalBus("pcie-pci-bridge", v.bus),
    });
  },
  plan(device, ctx) {
    requirePcie(
      "pcie-pci-bridge",
      device.id,
      ctx,
      "on a PCI machine, use a pci-bridge on its bus",
    );
    return [{
      kind: "device",
      args: {
        driver: "pcie-pci-bridge",
        id: device.id,
        ...device.bus ? { bus: device.bus } : busOf(ctx),
      },
    }];
  },
  ids: (device) => [device.id],
};

/** The pci-bridge kind. */
export const pciBridgeKind: DeviceKind<PciBridgeDevice> = {
  keys: ["id", "chassis", "bus"],
  early: true,
  parse(v, field: Field) {
    return defined({
      kind: "pci-bridge" as const,
      id: checkId("pci-bridge", v.id as string),
      chassis: optionalInteger(field("chassis"), v.chassis, 1, 255),
      bus: optionalBus("pci-bridge", v.bus),
    });
  },
  plan(device, ctx, index) {
    if (ctx.transport === "mmio") {
      throw new TypeError(
        `Cannot add pci-bridge "${device.id}": machine "${ctx.machine}" has no PCI bus`,
      );
    }
    const chassis = bridgeChassis(device, index);
    if (chassis < 1) {
      throw new RangeError(
        `Cannot add pci-bridge "${device.id}": a bridge without a chassis takes ${FIRST_BRIDGE_CHASSIS} − its index, and index ${index} gives ${chassis}, below 1; give it a chassis`,
      );
    }
    const bridge = { driver: "pci-bridge", id: device.id, chassis_nr: chassis };
    if (device.bus !== undefined) {
      return [{ kind: "device", args: { ...bridge, bus: device.bus } }];
    }
    if (!isPcie(ctx.arch, ctx.machine) || ctx.bus !== undefined) {
      return [{ kind: "device", args: { ...bridge, ...busOf(ctx) } }];
    }
    if (index >= 31) {
      throw new RangeError(
        `Cannot add pci-bridge "${device.id}": vmkit's PCIe-to-PCI bridge has 31 slots, for the first 31 bridges; put this one behind a pcie-pci-bridge of yours (bus)`,
      );
    }
    // A PCI-PCI bridge is no PCI Express device: it goes behind a PCIe-to-PCI bridge. Its
    // standard hotplug controller cannot drive slot 0 (aarch64 and riscv64 refuse it), so the
    // bridges take slots 1 to 31, by index.
    return [
      { kind: "device", args: { driver: "pcie-pci-bridge", id: VMKIT_PCIE_PCI_BRIDGE } },
      {
        kind: "device",
        args: { ...bridge, bus: VMKIT_PCIE_PCI_BRIDGE, addr: (index + 1).toString(16) },
      },
    ];
  },
  ids: (device) => [device.id],
  unique: (device, index) => [`PCI bridge chassis ${bridgeChassis(device, index)}`],
};
