/**
 * USB input devices: a tablet (absolute pointer, so a VNC viewer's pointer and the guest's
 * agree), a keyboard and a mouse, on the xHCI controller USB disks share.
 *
 * @module
 */

import { checkId } from "../_checks.ts";
import { checkEnum, defined, type Field } from "../_validate.ts";
import type { DeviceKind } from "./_kind.ts";
import type { PlanContext } from "./_plan.ts";

/** The USB input devices vmkit adds. */
export type UsbDeviceModel = "tablet" | "keyboard" | "mouse";

/**
 * A USB input device on the VM's xHCI controller (`qemu-xhci`, added once for all USB
 * devices and disks).
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const builder = vm({ arch: "x86_64" })
 *   .device({ kind: "usb", device: "tablet" })
 *   .device({ kind: "usb", device: "keyboard" });
 * ```
 */
export interface UsbDevice {
  /** The kind of this description: `"usb"`. */
  kind: "usb";
  /** `tablet` (`usb-tablet`), `keyboard` (`usb-kbd`) or `mouse` (`usb-mouse`). */
  device: UsbDeviceModel;
  /** Device id; default `usb<N>`, N counting the VM's USB devices of this list. */
  id?: string;
}

/** The id of the xHCI controller; `disk.ts` adds the same one for USB disks. */
export const XHCI_ID = "vmkit-xhci";

const DRIVERS: Record<UsbDeviceModel, string> = {
  tablet: "usb-tablet",
  keyboard: "usb-kbd",
  mouse: "usb-mouse",
};

/** Why the machine has no USB for these devices, or undefined when it has. */
function noUsbReason(
  ctx: Pick<PlanContext, "arch" | "machine" | "transport">,
): string | undefined {
  if (ctx.arch.arch === "s390x") return "QEMU has no USB for s390x";
  if (ctx.transport === "mmio") {
    return `machine "${ctx.machine}" has no PCI bus for the xHCI controller`;
  }
  return undefined;
}

function deviceId(device: UsbDevice, index: number): string {
  return device.id ?? `usb${index}`;
}

/** The USB input device kind. */
export const usbKind: DeviceKind<UsbDevice> = {
  keys: ["device", "id"],
  parse(v, field: Field, arch) {
    const model = checkEnum(field("device"), v.device, ["tablet", "keyboard", "mouse"]);
    if (arch.arch === "s390x") {
      throw new TypeError(`Cannot add usb ${model}: QEMU has no USB for s390x`);
    }
    return defined({
      kind: "usb" as const,
      device: model,
      id: v.id === undefined ? undefined : checkId("usb device", v.id as string),
    });
  },
  plan(device, ctx, index) {
    const reason = noUsbReason(ctx);
    if (reason !== undefined) throw new TypeError(`Cannot add usb ${device.device}: ${reason}`);
    return [
      // The very JSON disk.ts writes for USB disks, so the controller is written once.
      { kind: "device", args: { driver: "qemu-xhci", id: XHCI_ID } },
      {
        kind: "device",
        args: { driver: DRIVERS[device.device], id: deviceId(device, index), bus: `${XHCI_ID}.0` },
      },
    ];
  },
  ids: (device, index) => [deviceId(device, index)],
};
