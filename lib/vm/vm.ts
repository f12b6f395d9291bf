/**
 * A running VM: its console, QMP client, exit and shutdown. The class delegates: its exit and
 * shutdown to `_vm_lifecycle.ts`, resets to `_vm_reset.ts`, hotplug to `hotplug*.ts`, and the
 * balloon, snapshots, migration and dumps to their own files.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import type { AccelChoice } from "./accel.ts";
import type { Device } from "./devices/_registry.ts";
import type { ShutdownOptions, ShutdownResult, VmExit, VmParts, VmStatus } from "./vm_types.ts";
import { VmLifecycle } from "./_vm_lifecycle.ts";
import { resetVm, watchResets } from "./_vm_reset.ts";
import { type HotplugContext, hotplugContext } from "./_hotplug_context.ts";
import {
  addDisk,
  type AddDiskOptions,
  addNic,
  type AddNicOptions,
  type HotplugDisk,
  type HotplugNic,
  type RemoveDeviceOptions,
  removeDisk,
  removeNic,
} from "./hotplug.ts";
import {
  addCpu,
  type AddCpuOptions,
  type HotplugCpu,
  type HotpluggableCpu,
} from "./hotplug_cpu.ts";
import { addMemory, type AddMemoryOptions, type HotplugMemory } from "./hotplug_memory.ts";
import {
  addDevice,
  type AddDeviceOptions,
  type HotplugDevice,
  removeDevice,
} from "./_hotplug_device.ts";
import { balloonSize, setBalloon } from "./_balloon.ts";
import {
  deleteSnapshot,
  listSnapshots,
  loadSnapshot,
  saveSnapshot,
  type SnapshotInfo,
  type SnapshotOptions,
} from "./snapshot.ts";
import { migrate, type MigrateOptions, type MigrationStats } from "./migration.ts";
import { dumpGuestMemory, type DumpOptions, screendump, type ScreendumpOptions } from "./dump.ts";
import { GuestAgent } from "../agent/client.ts";
import { AgentPort } from "../agent/agent_port.ts";
import { GUEST_AGENT_PORT_ID } from "./devices/guest_agent.ts";
import { describeEnd, watchFailure } from "./_vm_failure.ts";
import { silentConsoleCause } from "./_silent_console.ts";
import { CLOSE_REASONS } from "../qmp/_close_reasons.ts";
import { followShutdownReason } from "./_shutdown_reason.ts";
import { type ReadyOptions, type ReadyResult, readyVm } from "./ready.ts";
import { VmSsh } from "./vm_ssh.ts";
import { NO_AGENT_LINE } from "../guest/default_init.ts";

export type { ShutdownOptions, ShutdownResult, VmExit, VmParts, VmStatus } from "./vm_types.ts";

/**
 * A running QEMU. Dispose of it (`await using`) to shut it down and remove its runtime
 * directory.
 */
export class Vm implements AsyncDisposable {
  readonly #parts: VmParts;
  readonly #lifecycle: VmLifecycle;
  readonly #hotplug: HotplugContext;
  readonly #failure: Promise<string>;
  readonly #agent?: GuestAgent;
  readonly #ssh?: VmSsh;

  /**
   * Made by `launch()`.
   *
   * @param parts The process, connections and runtime directory.
   */
  constructor(parts: VmParts) {
    this.#parts = parts;
    // One reader of QEMU's SHUTDOWN reasons, for the failure's words and shutdown()'s result.
    const shutdownReason = followShutdownReason(parts.qmp);
    this.#failure = watchFailure(parts, shutdownReason);
    // A command after QEMU's exit says why the connection is closed: the exit and its reason.
    CLOSE_REASONS.set(parts.qmp, () => {
      const exit = this.#lifecycle.exit;
      return exit === undefined ? undefined : describeEnd(exit, shutdownReason, parts.console);
    });
    if (parts.agentConn !== undefined) {
      this.#agent = GuestAgent.fromLink({
        conn: parts.agentConn,
        port: new AgentPort(parts.qmp, GUEST_AGENT_PORT_ID),
        // The tiny guest's init says so when the image has no agent for the port.
        gone: Promise.race([
          this.#failure,
          parts.console.seen(NO_AGENT_LINE, { keepAlive: false }).then(
            () => `the guest has no agent: its init says "${NO_AGENT_LINE}"`,
            () => new Promise<never>(() => {}),
          ),
        ]),
        poweredOff: () => guestStopped(parts),
      });
    }
    if (parts.facts.ssh !== undefined && parts.sshPort !== undefined) {
      this.#ssh = new VmSsh({
        ssh: parts.facts.ssh,
        port: parts.sshPort,
        runtimeDir: parts.runtimeDir,
        console: parts.console,
        failure: this.#failure,
      });
    }
    this.#lifecycle = new VmLifecycle(
      parts,
      this.#agent,
      this.#ssh ? [this.#ssh] : [],
      shutdownReason,
    );
    this.#hotplug = hotplugContext(parts);
    watchResets(parts.qmp, parts.console);
  }

  /**
   * The QEMU guest agent client, for a VM built with `.guestAgent()`: programs, files, OS
   * information and a clean shutdown through `qemu-ga` in the guest. Its commands wait until
   * the guest's agent has opened its port, and fail at once when QEMU exits or the guest
   * panics.
   *
   * @throws {TypeError} When the VM was built without `.guestAgent()`.
   *
   * @example
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * const { exitCode, stdout } = await guest.agent.exec(["uname", "-r"]);
   * await guest.agent.copyIn("build/app", "/usr/local/bin/app");
   * ```
   */
  get agent(): GuestAgent {
    if (this.#agent === undefined) {
      throw new TypeError(
        "Cannot use the guest agent: the VM was built without one; add .guestAgent() to the builder (and run qemu-ga in the guest)",
      );
    }
    return this.#agent;
  }

  /**
   * SSH into the guest, for a VM built with `.ssh()`: `exec`, an interactive `shell`, the
   * `command` line to paste, `ready`. The guest's host key is checked strictly: the seed gave
   * it to the guest, or cloud-init printed it on the console.
   *
   * @throws {TypeError} When the VM was built without `.ssh()`.
   *
   * @example
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * await guest.ready({ stages: ["ssh"] });
   * const { exitCode, stdout } = await guest.ssh.exec("systemctl is-system-running");
   * console.log(guest.ssh.command()); // ssh -F none -i ... -p 41234 vmkit@127.0.0.1
   * ```
   */
  get ssh(): VmSsh {
    if (this.#ssh === undefined) {
      throw new TypeError(
        "Cannot use ssh: the VM was built without it; add .ssh() (and .cloudInit() to give the guest its key) to the builder",
      );
    }
    return this.#ssh;
  }

  /**
   * Waits until the guest is ready, stage by stage, each with its own time limit: QEMU up, a
   * console line, the guest agent answering, cloud-init done, probes of your own. The stages
   * are followed at once, as events (no polling of seconds); a QEMU exit or a guest panic during
   * any of them fails the wait at once with the reason.
   *
   * @param options The stages (default: `"qemu"`, plus `"agent"` when the VM has one and
   *   `"ssh"` when it has `.ssh()`), the default time limit of each (120 s), signal.
   * @returns When each stage was reached, in ms since launch.
   * @throws {VmReadyError} Naming the stage not reached, why, and the console's last lines.
   *
   * @example
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * const { stages } = await guest.ready({ stages: ["agent", "cloud-init"], timeout: 300_000 });
   * ```
   */
  ready(options: ReadyOptions = {}): Promise<ReadyResult> {
    return readyVm({
      console: this.#parts.console,
      agent: this.#agent,
      ssh: this.#ssh,
      failure: this.#failure,
      launchedAt: this.#parts.launchedAt,
      silentCause: silentConsoleCause(this.#parts.argv, this.#parts.builder.archProfile),
    }, options);
  }

  /** The QMP client, connected and negotiated. */
  get qmp(): QmpClient {
    return this.#parts.qmp;
  }

  /** The guest's serial console, captured from its first byte. */
  get console(): Console {
    return this.#parts.console;
  }

  /** QEMU's process id. */
  get pid(): number {
    return this.#parts.process.pid;
  }

  /** The QEMU binary and arguments that were run. */
  get argv(): string[] {
    return [this.#parts.binary, ...this.#parts.argv];
  }

  /** The private directory (0700) holding the console and QMP sockets. */
  get runtimeDir(): string {
    return this.#parts.runtimeDir;
  }

  /** The accelerator in use and why it was chosen. */
  get accel(): AccelChoice {
    return this.#parts.accel;
  }

  /** When `launch()` started QEMU (`performance.now()` time). */
  get launchedAt(): number {
    return this.#parts.launchedAt;
  }

  /** What QEMU wrote to stderr (the last 64 KiB). */
  get stderr(): string {
    return this.#parts.stderr();
  }

  /**
   * Resolves when QEMU exits. An idle VM does not keep a finished script alive (QEMU is killed
   * when the script ends), but once this is read, the script waits for QEMU to exit.
   */
  get exited(): Promise<VmExit> {
    return this.#lifecycle.exited;
  }

  /** Whether QEMU has exited. */
  get hasExited(): boolean {
    return this.#lifecycle.exit !== undefined;
  }

  /**
   * Sends a signal to QEMU.
   *
   * @param signal Default `"SIGKILL"`.
   */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.#lifecycle.kill(signal);
  }

  /**
   * The run state: `"running"`, `"paused"`, `"inmigrate"`, `"postmigrate"`, `"shutdown"`...
   *
   * @param options Time limit and signal.
   * @returns The status.
   */
  async status(options: WaitOptions = {}): Promise<VmStatus> {
    return (await this.qmp.execute("query-status", undefined, options)).status;
  }

  /**
   * Stops the guest's CPUs (QMP `stop`); the guest keeps its state and its clock stops.
   *
   * @param options Time limit and signal.
   */
  async pause(options: WaitOptions = {}): Promise<void> {
    await this.qmp.execute("stop", undefined, options);
  }

  /**
   * Starts the guest's CPUs again (QMP `cont`).
   *
   * @param options Time limit and signal.
   */
  async resume(options: WaitOptions = {}): Promise<void> {
    await this.qmp.execute("cont", undefined, options);
  }

  /**
   * Resets the machine, as the reset button does (QMP `system_reset`); the guest reboots. A VM
   * built to exit on reboot (`-no-reboot`, the fast profile's default) still resets here: the
   * reboot action is `reset` for this request (and, with SeaBIOS, for the firmware's own reset
   * that follows it, up to 1 s), then exits-on-reboot again. It resolves once the reset is
   * done, while the guest boots again; the next `console.exec` waits for the shell prompt the
   * rebooted guest prints (`console.expect(readyLine)` waits for boot explicitly).
   *
   * @param options Time limit and signal.
   */
  async reset(options: WaitOptions = {}): Promise<void> {
    await resetVm(this.#parts, options);
  }

  /**
   * Hot-adds a disk (virtio-blk): `blockdev-add`, then `device_add` into a free hotplug slot.
   *
   * @param file The image file.
   * @param options Format (detected by default), id, read-only, serial, time limit, signal.
   * @returns The disk's id, format and slot.
   * @throws {Deno.errors.NotFound} When the file does not exist.
   * @throws {RangeError} When no hotplug slot is free (build with `.hotplugSlots(n)`), or the
   *   machine cannot hotplug.
   * @throws {QmpError} When QEMU refuses (a used id, an unreadable image); nothing is left
   *   half-added.
   *
   * @example
   * ```ts
   * import type { Vm } from "@vmkit/vmkit";
   * declare const guest: Vm;
   * const disk = await guest.addDisk("/tmp/data.qcow2");
   * await guest.removeDisk(disk.id);
   * ```
   */
  addDisk(file: string, options: AddDiskOptions = {}): Promise<HotplugDisk> {
    return addDisk(this.#hotplug, file, options);
  }

  /**
   * Removes a disk: `device_del`, waits until the guest lets go (`DEVICE_DELETED`), then
   * `blockdev-del` for a disk added with {@linkcode Vm.addDisk}.
   *
   * @param id The disk's device id.
   * @param options Time limit (default 10 s) and signal.
   * @throws {QmpError} With class `DeviceNotFound` when there is no such device.
   * @throws {QmpTimeoutError} When the guest does not release it in time.
   */
  removeDisk(id: string, options: RemoveDeviceOptions = {}): Promise<void> {
    return removeDisk(this.#hotplug, id, options);
  }

  /**
   * Hot-adds a network card (virtio-net): `netdev_add`, then `device_add`.
   *
   * @param options Backend (user-mode by default, or tap), MAC, id, time limit, signal.
   * @returns Its id, MAC and slot.
   * @throws {RangeError} When no hotplug slot is free, or the machine cannot hotplug.
   * @throws {QmpError} When QEMU refuses; nothing is left half-added.
   */
  addNic(options: AddNicOptions = {}): Promise<HotplugNic> {
    return addNic(this.#hotplug, options);
  }

  /**
   * Removes a network card: `device_del`, waits for `DEVICE_DELETED`, then `netdev_del`.
   *
   * @param id The card's device id.
   * @param options Time limit (default 10 s) and signal.
   * @throws {QmpError} With class `DeviceNotFound` when there is no such device.
   * @throws {QmpTimeoutError} When the guest does not release it in time.
   */
  removeNic(id: string, options: RemoveDeviceOptions = {}): Promise<void> {
    return removeNic(this.#hotplug, id, options);
  }

  /**
   * Hot-adds a device of the generic list, described as for `VmBuilder.device`: the same plan
   * as at boot, sent over QMP, into a free hotplug slot on PCI Express machines. Devices with
   * boot-only parts (a 9p share's `-fsdev`, a TPM) are refused, naming the part.
   *
   * @param device The device, such as `{ kind: "virtio-serial-port", name, chardev }`.
   * @param options Time limit (default 10 s) and signal.
   * @returns Its id (for {@linkcode Vm.removeDevice}) and slot.
   * @throws {TypeError} For a bad description, a boot-only device or an id already used.
   * @throws {RangeError} When no hotplug slot is free.
   */
  addDevice(device: Device, options: AddDeviceOptions = {}): Promise<HotplugDevice> {
    return addDevice(this.#hotplug, device, options);
  }

  /**
   * Removes a device added with {@linkcode Vm.addDevice}, then its backends.
   *
   * @param id The device id.
   * @param options Time limit (default 10 s) and signal.
   * @returns When the guest has let go of it and its backends are gone.
   */
  removeDevice(id: string, options: RemoveDeviceOptions = {}): Promise<void> {
    return removeDevice(this.#hotplug, id, options);
  }

  /**
   * The CPU slots of the machine, plugged (with `qom-path`) or free.
   *
   * @param options Time limit and signal.
   * @returns `query-hotpluggable-cpus`.
   */
  hotpluggableCpus(options: WaitOptions = {}): Promise<HotpluggableCpu[]> {
    return this.qmp.execute("query-hotpluggable-cpus", undefined, options);
  }

  /**
   * Hot-adds a CPU, into the slot given by socket/die/core/thread or the first free one. The
   * guest sees it offline until it writes 1 to `/sys/devices/system/cpu/cpuN/online`.
   *
   * @param options Slot, id, time limit, signal.
   * @returns The CPU's id, type and place.
   * @throws {RangeError} When no slot is free (build with `.smp({ cpus, maxcpus })`).
   */
  addCpu(options: AddCpuOptions = {}): Promise<HotplugCpu> {
    return addCpu(this.#hotplug, options);
  }

  /**
   * Hot-adds a DIMM of RAM. The guest onlines it itself when its kernel runs with
   * `memhp_default_state=online`.
   *
   * @param size Such as `"128M"`.
   * @param options Id, time limit, signal.
   * @returns The DIMM's id, backend and size.
   * @throws {RangeError} When the VM has no free DIMM slot or room under its `max` (build with
   *   `.memory(size, { slots, max })`).
   */
  addMemory(size: string | number, options: AddMemoryOptions = {}): Promise<HotplugMemory> {
    return addMemory(this.#hotplug, size, options);
  }

  /**
   * Asks the guest's balloon driver to bring the guest's memory to `size` (QMP `balloon`).
   *
   * @param size The target, such as `"128M"`.
   * @param options Time limit and signal.
   * @throws {TypeError} When the VM has no balloon device (build with `.balloon()`).
   */
  async setBalloon(size: string | number, options: WaitOptions = {}): Promise<void> {
    await setBalloon(this.qmp, size, options);
  }

  /**
   * The guest's memory as the balloon reports it, in bytes (QMP `query-balloon`).
   *
   * @param options Time limit and signal.
   * @returns Bytes.
   * @throws {TypeError} When the VM has no balloon device (build with `.balloon()`).
   */
  async balloonSize(options: WaitOptions = {}): Promise<number> {
    return await balloonSize(this.qmp, options);
  }

  /**
   * Saves a snapshot of the running VM (RAM, devices and every writable disk, which must all
   * be qcow2) under a new tag, with QEMU's `snapshot-save` job.
   *
   * @param tag The snapshot's name.
   * @param options Time limit (default 120 s) and signal.
   * @returns The snapshot as the disk lists it.
   * @throws {TypeError} When a writable disk is not qcow2, there is none, or the tag exists.
   * @throws {VmJobError} When QEMU's job fails.
   */
  saveSnapshot(tag: string, options: SnapshotOptions = {}): Promise<SnapshotInfo> {
    return saveSnapshot(this.qmp, tag, options);
  }

  /**
   * Restores a snapshot; a running VM goes on running from there.
   *
   * @param tag The snapshot's name.
   * @param options Time limit (default 120 s) and signal.
   * @throws {RangeError} When there is no such snapshot.
   * @throws {VmJobError} When QEMU's job fails.
   */
  loadSnapshot(tag: string, options: SnapshotOptions = {}): Promise<void> {
    return loadSnapshot(this.qmp, tag, options);
  }

  /**
   * Deletes a snapshot from every disk that holds it.
   *
   * @param tag The snapshot's name.
   * @param options Time limit (default 60 s) and signal.
   * @throws {RangeError} When there is no such snapshot.
   */
  deleteSnapshot(tag: string, options: SnapshotOptions = {}): Promise<void> {
    return deleteSnapshot(this.qmp, tag, options);
  }

  /**
   * The snapshots of the disk that holds VM state.
   *
   * @returns Tag, state size, date and guest clock of each.
   */
  snapshots(): Promise<SnapshotInfo[]> {
    return listSnapshots(this.qmp);
  }

  /**
   * Live-migrates this VM to another QEMU, over a unix socket in the destination's runtime
   * directory. The destination is a VM launched from the same builder plus `.incoming()`; a
   * string is a QEMU migration URI (`unix:PATH`, `tcp:HOST:PORT`, `exec:...`) of a destination
   * that is already listening. On success the destination runs and this VM quits (unless
   * `keepSource`); on failure, timeout or abort this VM keeps running.
   *
   * @param destination The destination VM, or a migration URI.
   * @param options Time limit, signal (both cancel the migration), maxDowntime, keepSource.
   * @returns Total time, downtime, bytes sent.
   * @throws {TypeError} When the destination VM is not waiting for a migration.
   * @throws {VmMigrationError} When the migration fails or is cancelled.
   *
   * @example
   * ```ts
   * import { vm } from "@vmkit/vmkit";
   * declare const initrd: string, kernel: string;
   * const builder = vm({ arch: "x86_64" }).memory("256M").kernel(kernel, { initrd });
   * await using source = await builder.launch();
   * await using destination = await builder.incoming().launch();
   * const stats = await source.migrateTo(destination, { timeout: 60_000 });
   * console.log(stats.downtimeMs, (await destination.console.exec("uptime")).output);
   * ```
   */
  async migrateTo(destination: Vm | string, options: MigrateOptions = {}): Promise<MigrationStats> {
    if (destination === this) throw new TypeError("Cannot migrate a VM to itself");
    const target = typeof destination === "string"
      ? { uri: destination }
      : { uri: `unix:${destination.runtimeDir}/migration.sock`, qmp: destination.qmp };
    if (typeof destination !== "string" && destination.hasExited) {
      throw new TypeError("Cannot migrate to a VM that has exited");
    }
    const stats = await migrate(this.qmp, target, options);
    if (typeof destination !== "string") destination.console.assumePrompt();
    if (!options.keepSource) await this.shutdown({ timeout: 0 });
    return stats;
  }

  /**
   * Writes the guest's memory to a file (ELF by default, for gdb or crash).
   *
   * @param path The file to write (QEMU writes it).
   * @param options Format, time limit (default 120 s), signal.
   * @returns Bytes of guest memory written.
   */
  dumpGuestMemory(path: string, options: DumpOptions = {}): Promise<number> {
    return dumpGuestMemory(this.qmp, path, options);
  }

  /**
   * Saves the display to an image (PNG by default).
   *
   * @param path The file to write.
   * @param options Format, time limit, signal.
   * @throws {TypeError} When the VM has no display adapter (build with `.vga()`).
   */
  screendump(path: string, options: ScreendumpOptions = {}): Promise<void> {
    return screendump(this.qmp, path, options);
  }

  /**
   * Stops the VM: the power button (ACPI on x86_64, the GPIO power key on aarch64's virt), then
   * QMP `quit`, then SIGTERM, then SIGKILL, each with its own wait, until QEMU exits; then
   * closes the connections and removes the runtime directory, as disposing does. The button is
   * pressed again every 2 s while the guest has not reacted, since a guest still booting misses
   * a press. Calling it again returns the same result.
   *
   * @param options Wait of each step.
   * @returns How it ended.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownResult> {
    return this.#lifecycle.shutdown(options);
  }

  /** Shuts down (if running), closes the connections and removes the runtime directory. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#lifecycle.dispose();
  }
}

/** Resolves when the guest has powered off, rebooted or QEMU exited; never rejects. */
function guestStopped(parts: VmParts): Promise<void> {
  const never = new Promise<never>(() => {});
  const event = (name: string) =>
    parts.qmp.waitForEvent(name, { keepAlive: false }).then(() => {}, () => never);
  return Promise.race([event("SHUTDOWN"), event("RESET"), parts.exited.then(() => {})]);
}
