/**
 * Devices as data: each kind is a plain, checked description and the plan that makes it, used
 * both on the command line at boot and over QMP when hot-adding.
 *
 * @example The same description at boot and hot-added
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const rng = { kind: "rng", id: "rng0" } as const;
 * console.log(vm({ arch: "x86_64" }).device(rng).toArgv({ accel: "tcg" }));
 * // ... later, on a running VM: await guest.addDevice(rng);
 * ```
 *
 * @module
 */
export type {
  AioMode,
  CacheMode,
  DetectZeroes,
  DiskInterface,
  DriveDescription,
  DriveOptions,
} from "./disk.ts";
export type {
  BridgeNetwork,
  GuestForward,
  HostForward,
  NetworkDescription,
  NetworkOptions,
  NicCommon,
  StreamNetwork,
  TapNetwork,
  UserNetwork,
  VhostUserNetwork,
} from "./network.ts";
export type { ChardevDescription, ChardevOptions } from "./chardev.ts";
export type { Device } from "./_registry.ts";
export type { RngDevice } from "./rng.ts";
export type { BalloonDevice } from "./balloon.ts";
export type { DisplayDevice } from "./display.ts";
export type { PvpanicDevice } from "./pvpanic.ts";
export type { NinePDevice, NinePSecurityModel, VirtiofsDevice } from "./share.ts";
export type { VirtioSerialPortDevice } from "./virtio_serial.ts";
export type { GuestAgentDevice } from "./guest_agent.ts";
export type { SshDevice } from "./ssh.ts";
export type { CloudInitDevice } from "./cloud_init_seed.ts";
export type { VsockDevice } from "./vsock.ts";
export type { UsbDevice, UsbDeviceModel } from "./usb.ts";
export type { WatchdogAction, WatchdogDevice, WatchdogModel } from "./watchdog.ts";
export type { IommuDevice } from "./iommu.ts";
export type { PciBridgeDevice, PciePciBridgeDevice, PcieRootPortDevice } from "./pci_topology.ts";
export { checkVfioHost, type CheckVfioHostOptions, type VfioDevice } from "./vfio.ts";
export type { VhostUserBlkDevice } from "./vhost_user_blk.ts";
export type { LoaderDevice } from "./loader.ts";
export type { TpmDevice } from "./tpm.ts";
