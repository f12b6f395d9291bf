/**
 * A running VM: its console, QMP client, exit and shutdown.
 *
 * @module
 */

import { checkTimeout } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import type { Console } from "./console.ts";
import type { AccelChoice } from "./accel.ts";

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
   * - `"already-exited"`: QEMU had exited before;
   * - `"powerdown"`: the guest powered off after the ACPI power button;
   * - `"quit"`: QEMU quit on QMP `quit`;
   * - `"sigterm"` / `"sigkill"`: QEMU was signalled.
   */
  method: "already-exited" | "powerdown" | "quit" | "sigterm" | "sigkill";
  /** QEMU's exit. */
  exit: VmExit;
  /** Milliseconds the shutdown took. */
  durationMs: number;
}

/** Options of {@linkcode Vm.shutdown}. */
export interface ShutdownOptions {
  /** How long the guest gets to power off after the ACPI power button. Default 10 000 ms; 0 skips it. */
  timeout?: number;
  /** How long QEMU gets to quit after QMP `quit`. Default 3000 ms. */
  quitTimeout?: number;
  /** How long QEMU gets to exit after SIGTERM. Default 3000 ms. */
  termTimeout?: number;
}

/** What `launch()` hands to a {@linkcode Vm}. */
export interface VmParts {
  process: Deno.ChildProcess;
  qmp: QmpClient;
  console: Console;
  runtimeDir: string;
  argv: string[];
  binary: string;
  accel: AccelChoice;
  stderr: () => string;
  exited: Promise<VmExit>;
  release: () => void;
  launchedAt: number;
}

/**
 * A running QEMU. Dispose of it (`await using`) to shut it down and remove its runtime
 * directory.
 */
export class Vm implements AsyncDisposable {
  readonly #parts: VmParts;
  #exit?: VmExit;
  #disposed?: Promise<void>;
  #shutdown?: Promise<ShutdownResult>;

  /**
   * Made by `launch()`.
   *
   * @param parts The process, connections and runtime directory.
   */
  constructor(parts: VmParts) {
    this.#parts = parts;
    parts.exited.then((exit) => (this.#exit = exit));
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

  /** Resolves when QEMU exits. */
  get exited(): Promise<VmExit> {
    return this.#parts.exited;
  }

  /** Whether QEMU has exited. */
  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /**
   * Sends a signal to QEMU.
   *
   * @param signal Default `"SIGKILL"`.
   */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    if (this.#exit !== undefined) return;
    try {
      this.#parts.process.kill(signal);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      // TypeError: the child has already exited.
    }
  }

  /**
   * Stops the VM: ACPI power button, then QMP `quit`, then SIGTERM, then SIGKILL, each with its
   * own wait, until QEMU exits. Calling it again returns the same result.
   *
   * @param options Wait of each step.
   * @returns How it ended.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownResult> {
    checkTimeout("shut down the VM", options.timeout);
    checkTimeout("shut down the VM", options.quitTimeout);
    checkTimeout("shut down the VM", options.termTimeout);
    this.#shutdown ??= this.#runShutdown(options);
    return this.#shutdown;
  }

  async #runShutdown(options: ShutdownOptions): Promise<ShutdownResult> {
    const started = performance.now();
    const done = (method: ShutdownResult["method"], exit: VmExit): ShutdownResult => ({
      method,
      exit,
      durationMs: performance.now() - started,
    });
    if (this.#exit !== undefined) return done("already-exited", this.#exit);
    const powerdown = options.timeout ?? 10_000;
    // A guest whose CPUs are stopped cannot react to the power button.
    const status = await this.qmp.execute("query-status", undefined, { timeout: 1000 }).catch(() =>
      undefined
    );
    const running = (status as { running?: boolean } | undefined)?.running === true;
    if (powerdown > 0 && running) {
      await this.qmp.execute("system_powerdown", undefined, { timeout: 1000 }).catch(() => {});
      const exit = await this.#waitExit(powerdown);
      if (exit !== undefined) return done("powerdown", exit);
    }
    await this.qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
    let exit = await this.#waitExit(options.quitTimeout ?? 3000);
    if (exit !== undefined) return done("quit", exit);
    this.kill("SIGTERM");
    exit = await this.#waitExit(options.termTimeout ?? 3000);
    if (exit !== undefined) return done("sigterm", exit);
    this.kill("SIGKILL");
    return done("sigkill", await this.exited);
  }

  async #waitExit(ms: number): Promise<VmExit | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((
      resolve,
    ) => (timer = setTimeout(() => resolve(undefined), ms)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Shuts down (if running), closes the connections and removes the runtime directory. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed ??= this.#dispose();
    return this.#disposed;
  }

  async #dispose(): Promise<void> {
    try {
      if (this.#exit === undefined) await this.shutdown();
    } finally {
      await this.qmp.close();
      await this.console.close();
      await Deno.remove(this.runtimeDir, { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      this.#parts.release();
    }
  }
}
