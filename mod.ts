/**
 * vmkit: script QEMU from TypeScript. Build a VM description, launch it, drive its serial
 * console and QMP, and have it cleaned up whatever happens.
 *
 * @example Boot the tiny guest and run a command
 * ```ts
 * import { tinyGuest, vm } from "@vmkit/vmkit";
 * const { kernel, initrd } = await tinyGuest("x86_64");
 * await using guest = await vm({ arch: "x86_64" })
 *   .memory("256M")
 *   .kernel(kernel, { initrd, append: "console=ttyS0" })
 *   .launch();
 * const { output, exitCode } = await guest.console.exec("uname -a");
 * console.log(output, exitCode, await guest.qmp.execute("query-status"));
 * await guest.shutdown();
 * ```
 *
 * @module
 */
export * from "./lib/vm/mod.ts";
export * from "./lib/qmp/mod.ts";
export * from "./lib/guest/mod.ts";
export * from "./lib/agent/mod.ts";
export * from "./lib/ssh/mod.ts";
export * from "./lib/instance/mod.ts";
export * as binfmt from "./lib/binfmt/mod.ts";
export * as emulators from "./lib/emulators/mod.ts";
export { EmulatorFetchError, fetchEmulator } from "./lib/emulators/mod.ts";
export type { FetchedEmulator, FetchEmulatorOptions, FetchProgress } from "./lib/emulators/mod.ts";
export * as image from "./lib/image/mod.ts";
export { ImageFetchError, ImageTimeoutError, QemuImgError } from "./lib/image/mod.ts";
export type {
  ConvertFormat,
  CreateImageOptions,
  ImageBacking,
  ImageCheckResult,
  ImageInfo,
  ImageLayer,
  ImageSnapshot,
  Preallocation,
} from "./lib/image/mod.ts";
export {
  BinfmtConflictError,
  BinfmtPermissionError,
  checkInterpreter,
  elfInterpreter,
  elfTarget,
  entryDifferences,
  exportFile,
  foreignTargets,
  hostTarget,
  parseElfHeader,
  parseEntryStatus,
  PROBE_TARGETS,
  probeElf,
  QEMU_TARGETS,
  qemuTarget,
  registrationString,
  runForeign,
} from "./lib/binfmt/mod.ts";
export type {
  BinfmtEntry,
  BinfmtFlags,
  BinfmtStatus,
  CheckResult,
  CheckState,
  ElfHeader,
  ExportFile,
  ExportFormat,
  ForeignProcess,
  ForeignTargetsOptions,
  HostTarget,
  QemuTarget,
  QemuTargetName,
  RunForeignOptions,
} from "./lib/binfmt/mod.ts";
export type { WaitOptions } from "./lib/_deadline.ts";
