/**
 * Named instances, as Lima has them: VMs whose QEMU runs in the background and outlives the
 * script or `vmkit` command that started it, with their sockets, logs, disks and keys in a
 * private state directory (`$XDG_STATE_HOME/vmkit/NAME`), driven later from any process.
 *
 * @example
 * ```ts
 * import { listInstances, openInstance, startInstance, tinyGuest, vm } from "@vmkit/vmkit";
 * const g = await tinyGuest("x86_64", { agent: true });
 * await startInstance(
 *   "web",
 *   vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd }).guestAgent(),
 * );
 * // Later, from another process:
 * const web = await openInstance("web");
 * await web.ready({ timeout: 60_000 });
 * await using agent = await web.agent();
 * console.log((await agent.exec(["uname", "-r"])).stdout);
 * console.log(await listInstances());
 * await web.stop();
 * ```
 *
 * @module
 */
export {
  checkInstanceName,
  instanceDir,
  type InstanceDirOptions,
  instanceStateBase,
} from "./state_dir.ts";
export {
  InstanceBusyError,
  InstancePanicError,
  type InstanceStatus,
  InstanceStatusError,
} from "./errors.ts";
export type { InstanceRecord, InstanceSshLogin, InstanceStart } from "./record.ts";
export {
  type DeleteInstanceOptions,
  Instance,
  type InstanceFiles,
  type InstanceQmpOptions,
  type InstanceReadyOptions,
  type InstanceReadyResult,
  type InstanceReadyStage,
  type InstanceState,
  openInstance,
  type StopInstanceOptions,
  type StopInstanceResult,
  type StopMethod,
} from "./instance.ts";
export { type InstanceVm, startInstance, type StartInstanceOptions } from "./start.ts";
export {
  type BrokenInstanceSummary,
  type InstanceSummary,
  listInstances,
  type ListInstancesOptions,
} from "./list.ts";
export {
  attachConsole,
  type AttachConsoleOptions,
  CONSOLE_ESCAPE,
  type ConsoleDetach,
} from "./console_attach.ts";
