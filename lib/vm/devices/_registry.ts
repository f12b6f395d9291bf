// The kinds of the generic device list, in the order their devices appear on the command line.
// A new kind: one module exporting its description type and kind, one line in each list here.

import type { DeviceKind } from "./_kind.ts";
import { type RngDevice, rngKind } from "./rng.ts";
import { type BalloonDevice, balloonKind } from "./balloon.ts";
import { type DisplayDevice, displayKind } from "./display.ts";
import { type PvpanicDevice, pvpanicKind } from "./pvpanic.ts";
import { type NinePDevice, ninePKind, type VirtiofsDevice, virtiofsKind } from "./share.ts";
import { type VirtioSerialPortDevice, virtioSerialPortKind } from "./virtio_serial.ts";
import { type VsockDevice, vsockKind } from "./vsock.ts";
import { type UsbDevice, usbKind } from "./usb.ts";
import { type WatchdogDevice, watchdogKind } from "./watchdog.ts";
import { type IommuDevice, iommuKind } from "./iommu.ts";
import {
  type PciBridgeDevice,
  pciBridgeKind,
  type PciePciBridgeDevice,
  pciePciBridgeKind,
  type PcieRootPortDevice,
  pcieRootPortKind,
} from "./pci_topology.ts";
import { type VfioDevice, vfioKind } from "./vfio.ts";
import { type VhostUserBlkDevice, vhostUserBlkKind } from "./vhost_user_blk.ts";
import { type LoaderDevice, loaderKind } from "./loader.ts";
import { type TpmDevice, tpmKind } from "./tpm.ts";
import { type GuestAgentDevice, guestAgentKind } from "./guest_agent.ts";
import { type SshDevice, sshKind } from "./ssh.ts";
import { type CloudInitDevice, cloudInitKind } from "./cloud_init_seed.ts";

/** A device of the generic list, told apart by `kind`. */
export type Device =
  | RngDevice
  | BalloonDevice
  | DisplayDevice
  | PvpanicDevice
  | NinePDevice
  | VirtiofsDevice
  | VirtioSerialPortDevice
  | VsockDevice
  | UsbDevice
  | WatchdogDevice
  | IommuDevice
  | PcieRootPortDevice
  | PciePciBridgeDevice
  | PciBridgeDevice
  | VfioDevice
  | VhostUserBlkDevice
  | LoaderDevice
  | TpmDevice
  | GuestAgentDevice
  | SshDevice
  | CloudInitDevice;

/** The kinds, by name. */
export const DEVICE_KINDS: {
  readonly [K in Device["kind"]]: DeviceKind<Extract<Device, { kind: K }>>;
} = {
  // The IOMMU first: vfio-pci (and virtio with iommu_platform) takes its DMA address space
  // when realized, in command-line order, and would bypass an IOMMU realized after it. Then
  // the buses other devices sit on.
  iommu: iommuKind,
  "pcie-root-port": pcieRootPortKind,
  "pcie-pci-bridge": pciePciBridgeKind,
  "pci-bridge": pciBridgeKind,
  rng: rngKind,
  balloon: balloonKind,
  display: displayKind,
  pvpanic: pvpanicKind,
  "9p": ninePKind,
  virtiofs: virtiofsKind,
  "virtio-serial-port": virtioSerialPortKind,
  "guest-agent": guestAgentKind,
  vsock: vsockKind,
  usb: usbKind,
  watchdog: watchdogKind,
  vfio: vfioKind,
  "vhost-user-blk": vhostUserBlkKind,
  loader: loaderKind,
  tpm: tpmKind,
  // The SSH keys are made before the seed that carries them.
  ssh: sshKind,
  "cloud-init": cloudInitKind,
};

/** The kind of a device. */
export function kindOf<D extends Device>(device: D): DeviceKind<D> {
  return DEVICE_KINDS[device.kind] as unknown as DeviceKind<D>;
}
