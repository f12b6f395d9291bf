/**
 * The VM builder, launching, the running VM and its console.
 *
 * @example Boot, drive the console and QMP, hot-add a disk, shut down
 * ```ts
 * import { image, tinyGuest, vm } from "@vmkit/vmkit";
 * const g = await tinyGuest("x86_64");
 * await image.create("/tmp/data.qcow2", { size: "64M" });
 * await using guest = await vm({ arch: "x86_64" }).memory("256M").smp(2)
 *   .kernel(g.kernel, { initrd: g.initrd })
 *   .hotplugSlots(2)
 *   .launch({ timeout: 60_000 });
 * console.log((await guest.console.exec("uname -r")).output);
 * const disk = await guest.addDisk("/tmp/data.qcow2"); // blockdev-add, then device_add
 * await guest.removeDisk(disk.id);
 * console.log(await guest.qmp.execute("query-status"));
 * await guest.shutdown(); // ACPI first, then quit and signals, each with its own wait
 * ```
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
