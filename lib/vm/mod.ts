/**
 * The VM builder, launching, the running VM and its console.
 *
 * @module
 */
export * from "./accel.ts";
export * from "./arch.ts";
export * from "./builder.ts";
export * from "./machine_builder.ts";
export * from "./process_builder.ts";
export { CONSOLE_CHARDEV, QMP_CHARDEV, type ToArgvOptions } from "./argv.ts";
export * from "./machine.ts";
export * from "./firmware.ts";
export type { VmDescription } from "./description.ts";
export type { InputFile, LaunchFacts, Sidecar, VmSpec } from "./spec.ts";
export type {
  FwCfgEntry,
  KernelOptions,
  MemoryBackend,
  MemoryOptions,
  NumaNode,
  SmpOptions,
} from "./_machine_options.ts";
export type {
  Firmware,
  GlobalProperty,
  ObjectDescription,
  RtcOptions,
  SmbiosEntry,
} from "./_platform_options.ts";
export * from "./devices/mod.ts";
export * from "./console.ts";
export * from "./errors.ts";
export type { DumpOptions, ScreendumpOptions } from "./dump.ts";
export type {
  AddCpuOptions,
  AddDiskOptions,
  AddMemoryOptions,
  AddNicOptions,
  HotplugCpu,
  HotplugDisk,
  HotpluggableCpu,
  HotplugMemory,
  HotplugNic,
  RemoveDeviceOptions,
} from "./hotplug.ts";
export type { MigrateOptions, MigrationStats } from "./migration.ts";
export type { AddDeviceOptions, HotplugDevice } from "./_hotplug_device.ts";
export type { SnapshotInfo, SnapshotOptions } from "./snapshot.ts";
export * from "./image_format.ts";
export * from "./launch.ts";
export * from "./preflight.ts";
export * from "./probe.ts";
export * from "./qemu_opts.ts";
export * from "./size.ts";
export * from "./vm.ts";
export * from "./ready.ts";
export * from "./vm_ssh.ts";
export * from "./guest_job.ts";
