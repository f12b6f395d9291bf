/**
 * PCI passthrough: a host PCI device handed to the guest with VFIO (`vfio-pci`).
 *
 * The host device must be bound to the `vfio-pci` driver, with the host IOMMU on, before the
 * VM starts. `launch()` checks that the device, its IOMMU group, its binding and `/dev/vfio`
 * exist, and says how to bind it when not; {@linkcode checkVfioHost} checks more (the driver
 * the device is bound to, the group's device node, the other devices of its group).
 *
 * @module
 */

import { checkId, checkPath } from "../_checks.ts";
import { defined, type Field, optionalInteger } from "../_validate.ts";
import type { DeviceKind, InputFile } from "./_kind.ts";
import { busOf } from "./_plan.ts";
import { pathExists } from "../../_fs.ts";

/** A host PCI device passed through to the guest (`vfio-pci`). */
export interface VfioDevice {
  /** The kind of this description: `"vfio"`. */
  kind: "vfio";
  /**
   * The host PCI address, `[domain:]bus:slot.function` in hex, as `lspci -D` prints it:
   * `"0000:01:00.0"` (a missing domain is domain 0).
   */
  host: string;
  /** An option ROM image to give the guest instead of the device's own. */
  romFile?: string;
  /** Boot order among the bootable devices (0 boots first). */
  bootIndex?: number;
  /** Device id; default `vfio<N>`. */
  id?: string;
}

const PCI_ADDRESS = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/**
 * Checks a host PCI address and writes it as sysfs names devices: `1:0.0` → `0000:01:00.0`.
 *
 * @param field Names the value in errors.
 * @param value `[domain:]bus:slot.function` in hex.
 * @returns The address with a 4-digit domain, 2-digit bus and slot, in lower case.
 * @throws {TypeError} When it is not a PCI address, or its slot is above `1f`.
 */
export function normalizePciAddress(field: string, value: unknown): string {
  const match = typeof value === "string" ? PCI_ADDRESS.exec(value) : null;
  if (match === null || parseInt(match[3], 16) > 0x1f) {
    throw new TypeError(
      `Cannot set ${field} to ${
        typeof value === "string" ? JSON.stringify(value) : String(value)
      }: use a PCI address [domain:]bus:slot.function in hex, slot at most 1f, function 0 to 7, as "lspci -D" prints it ("0000:01:00.0")`,
    );
  }
  const [, domain = "0", bus, slot, fn] = match;
  return `${domain.padStart(4, "0")}:${bus.padStart(2, "0")}:${slot.padStart(2, "0")}.${fn}`
    .toLowerCase();
}

function vfioId(device: VfioDevice, index: number): string {
  return device.id ?? `vfio${index}`;
}

/** The shell lines that hand a host PCI device to `vfio-pci`. */
function bindingHint(host: string, bound: boolean): string {
  const device = `/sys/bus/pci/devices/${host}`;
  return [
    "modprobe vfio-pci",
    ...bound ? [`echo ${host} > ${device}/driver/unbind`] : [],
    `echo vfio-pci > ${device}/driver_override`,
    `echo ${host} > /sys/bus/pci/drivers_probe`,
  ].join("; ");
}

const IOMMU_HINT =
  "the host IOMMU is off: turn on VT-d or AMD-Vi in the firmware and boot the host with intel_iommu=on (Intel) or amd_iommu=on (AMD)";

/** The vfio kind. */
export const vfioKind: DeviceKind<VfioDevice> = {
  keys: ["host", "romFile", "bootIndex", "id"],
  preflight: (device) => checkVfioHost(device.host),
  parse(v, field: Field) {
    return defined({
      kind: "vfio" as const,
      host: normalizePciAddress(field("host"), v.host),
      romFile: v.romFile === undefined
        ? undefined
        : checkPath(field("romFile"), v.romFile as string),
      bootIndex: optionalInteger(field("bootIndex"), v.bootIndex, 0, 1000),
      id: v.id === undefined ? undefined : checkId("vfio", v.id as string),
    });
  },
  plan(device, ctx, index) {
    if (ctx.transport !== "pci") {
      throw new TypeError(
        `Cannot add vfio device "${
          vfioId(device, index)
        }" (host ${device.host}): machine "${ctx.machine}" has no PCI bus for it`,
      );
    }
    return [{
      kind: "device",
      args: defined({
        driver: "vfio-pci",
        id: vfioId(device, index),
        host: device.host,
        romfile: device.romFile,
        bootindex: device.bootIndex,
        ...busOf(ctx),
      }),
    }];
  },
  ids: (device, index) => [vfioId(device, index)],
  unique: (device) => [`host PCI device ${device.host}`],
  inputs: (device) => vfioInputs(device.host, device.romFile),
};

/**
 * The host paths a passed-through device needs, in the order to check them: the device, its
 * IOMMU group, its binding to `vfio-pci`, the VFIO container device (and the ROM file).
 */
function vfioInputs(host: string, romFile?: string): InputFile[] {
  const device = `/sys/bus/pci/devices/${host}`;
  const files: InputFile[] = [
    {
      what: `host PCI device ${host}`,
      path: device,
      expect: "directory",
      hint: `"lspci -D" lists the host's PCI devices`,
    },
    {
      what: `the IOMMU group of host PCI device ${host}`,
      path: `${device}/iommu_group`,
      expect: "any",
      hint: IOMMU_HINT,
    },
    {
      what: `the vfio-pci binding of host PCI device ${host}`,
      path: `/sys/bus/pci/drivers/vfio-pci/${host}`,
      expect: "any",
      hint: `bind it to vfio-pci, as root: ${bindingHint(host, true)}`,
    },
    {
      what: "the VFIO container device",
      path: "/dev/vfio/vfio",
      expect: "any",
      hint: "load VFIO, as root: modprobe vfio-pci",
    },
  ];
  if (romFile !== undefined) {
    files.push({ what: `the option ROM of host PCI device ${host}`, path: romFile });
  }
  return files;
}

/** Options of {@linkcode checkVfioHost}. */
export interface CheckVfioHostOptions {
  /** Where `sys/` and `dev/` are: default `/`, the host's own. */
  root?: string;
}

/** Drivers a device may have while another device of its IOMMU group is passed through. */
const VIABLE_DRIVERS = ["vfio-pci", "pci-stub", "pcieport"];

async function linkName(path: string): Promise<string | undefined> {
  try {
    return (await Deno.readLink(path)).split("/").pop();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Checks that a host PCI device can be passed through now: it exists, the host IOMMU put it
 * in a group, it is bound to `vfio-pci`, the group's `/dev/vfio/<group>` exists, and every
 * other device of the group is bound to `vfio-pci` (or `pci-stub`, or is a PCIe port) or to
 * no driver, as VFIO requires. Each failure says what to do.
 *
 * @param host The PCI address, `[domain:]bus:slot.function`.
 * @param options Another root for `sys/` and `dev/` (a copy of their layout).
 * @throws {TypeError} When the address is malformed, or the device cannot be passed through;
 *   the message starts `Cannot pass through host PCI device "0000:01:00.0"`.
 *
 * @example
 * ```ts
 * import { checkVfioHost } from "@vmkit/vmkit";
 * const problem = await checkVfioHost("0000:01:00.0").then(() => "", (e) => e.message);
 * console.log(problem || "ready for passthrough");
 * ```
 */
export async function checkVfioHost(
  host: string,
  options: CheckVfioHostOptions = {},
): Promise<void> {
  const address = normalizePciAddress("vfio host", host);
  const root = (options.root ?? "/").replace(/\/+$/, "");
  const fail = (reason: string): never => {
    throw new TypeError(`Cannot pass through host PCI device "${address}": ${reason}`);
  };
  const device = `${root}/sys/bus/pci/devices/${address}`;
  if (!await pathExists(device)) {
    fail(`there is no such device ("${device}" does not exist); "lspci -D" lists them`);
  }
  const group = await linkName(`${device}/iommu_group`);
  if (group === undefined) fail(`it is in no IOMMU group; ${IOMMU_HINT}`);
  const driver = await linkName(`${device}/driver`);
  if (driver !== "vfio-pci") {
    fail(
      `${
        driver === undefined ? "it is bound to no driver" : `it is bound to ${driver}`
      }, not vfio-pci; bind it, as root: ${bindingHint(address, driver !== undefined)}`,
    );
  }
  const node = `${root}/dev/vfio/${group}`;
  if (!await pathExists(node)) {
    fail(`its IOMMU group's device "${node}" does not exist; load VFIO: modprobe vfio-pci`);
  }
  const members: string[] = [];
  for await (const entry of Deno.readDir(`${root}/sys/kernel/iommu_groups/${group}/devices`)) {
    if (entry.name !== address) members.push(entry.name);
  }
  for (const member of members.sort()) {
    const other = await linkName(`${root}/sys/bus/pci/devices/${member}/driver`);
    if (other !== undefined && !VIABLE_DRIVERS.includes(other)) {
      fail(
        `IOMMU group ${group} also holds ${member}, bound to ${other}; VFIO takes a group whole: bind ${member} to vfio-pci too, as root: ${
          bindingHint(member, true)
        }`,
      );
    }
  }
}
