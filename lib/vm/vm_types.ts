/**
 * The plain types of a running VM: how QEMU exited, how a shutdown went, what `launch()` hands
 * to a `Vm`, and its run state.
 *
 * @module
 */

import type { QmpClient, QmpReturn } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import type { AccelChoice } from "./accel.ts";
import type { LaunchFacts, Sidecar, VmSpec } from "./spec.ts";

/** How QEMU exited. */
export interface VmExit {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that killed it, if any. */
  signal: Deno.Signal | null;
  /** Whether it exited with code 0. */
  success: boolean;
}

/** How {@linkcode Vm.shutdown} ended the VM. */
export interface ShutdownResult {
  /**
   * - `"already-exited"`: QEMU had exited before, or the guest ended it by itself while it was
   *   being asked to power off (a reset that `-no-reboot` turns into an exit, such as a kernel
   *   panic with `panic=-1`; `reason` says which);
   * - `"agent"`: the guest powered off when its agent asked (`guest-shutdown`);
   * - `"powerdown"`: the guest powered off after the ACPI power button;
   * - `"quit"`: QEMU quit on QMP `quit`;
   * - `"sigterm"` / `"sigkill"`: QEMU was signalled.
   */
  method: "already-exited" | "agent" | "powerdown" | "quit" | "sigterm" | "sigkill";
  /** QEMU's exit. */
  exit: VmExit;
  /**
   * Why QEMU said it stopped (its first `SHUTDOWN` event): `"guest-shutdown"` when the guest
   * powered off, `"guest-reset"` when a guest reset ended it (`-no-reboot`: a kernel panic with
   * `panic=-1`, a triple fault), `"guest-panic"`, `"host-qmp-quit"`, `"host-signal"`. Absent
   * when QEMU sent none (SIGKILL, or an exit before QMP was up). QEMU's exit code is 0 for all
   * of these: this, not `exit.success`, tells a clean power-off from a crashed guest.
   */
  reason?: string;
  /** Milliseconds the shutdown took. */
  durationMs: number;
}

/** Options of {@linkcode Vm.shutdown}. */
export interface ShutdownOptions {
  /**
   * How long the guest gets to power off when asked: by its agent (when it has one that
   * answers), else by the ACPI power button. Default 10 000 ms; 0 skips both.
   */
  timeout?: number;
  /** How long QEMU gets to quit after QMP `quit`. Default 3000 ms. */
  quitTimeout?: number;
  /** How long QEMU gets to exit after SIGTERM. Default 3000 ms. */
  termTimeout?: number;
}

/** What `launch()` hands to a {@linkcode Vm}. */
export interface VmParts {
  /** QEMU's process. */
  process: Deno.ChildProcess;
  /** The QMP client, negotiated. */
  qmp: QmpClient;
  /** The serial console. */
  console: Console;
  /** The private runtime directory. */
  runtimeDir: string;
  /** QEMU's arguments. */
  argv: string[];
  /** The QEMU binary. */
  binary: string;
  /** The accelerator and why. */
  accel: AccelChoice;
  /** QEMU's stderr so far (its last 64 KiB). */
  stderr: () => string;
  /** Resolves when QEMU exits. */
  exited: Promise<VmExit>;
  /** Drops QEMU from the registry that kills it when the script ends. */
  release: () => void;
  /** When QEMU started (`performance.now()`). */
  launchedAt: number;
  /** The description it was launched from: hotplug, transport and reboot come from it. */
  builder: VmSpec;
  /** What runs beside QEMU (swtpm), stopped when the VM is released. */
  sidecars: Sidecar[];
  /** The connection QEMU made to the guest agent's socket, when the VM has one. */
  agentConn?: Deno.Conn;
  /** What the devices learned at launch (the SSH key). */
  facts: LaunchFacts;
  /** The host port forwarded to guest port 22, for a VM built with `.ssh()`. */
  sshPort?: number;
}

/** The VM's run state, from `query-status`. */
export type VmStatus = QmpReturn<"query-status">["status"];
