// The end of a running VM, which `Vm` delegates to: noticing that QEMU exited, signalling it,
// the shutdown ladder (power button, QMP `quit`, SIGTERM, SIGKILL), disposal, and releasing what
// an exited VM owned (connections, runtime directory, sidecars, its registry entry).

import { checkTimeout, settledWithin } from "../_deadline.ts";
import { KeepAlive } from "../_keep_alive.ts";
import type { ShutdownOptions, ShutdownResult, VmExit, VmParts } from "./vm_types.ts";
import type { GuestAgent } from "../agent/client.ts";
import type { ShutdownReason } from "./_shutdown_reason.ts";

/** How often shutdown() presses the power button again while the guest has not reacted. */
const REPRESS_MS = 2000;

/** The exit, shutdown, disposal and release of one VM; each runs once. */
export class VmLifecycle {
  readonly #parts: VmParts;
  readonly #agent?: GuestAgent;
  readonly #closers: readonly { close(): Promise<void> }[];
  #exit?: VmExit;
  #disposed?: Promise<void>;
  #shutdown?: Promise<ShutdownResult>;
  #released?: Promise<void>;
  #watchingExit = false;
  /** QEMU keeps the script alive only while something waits for it to exit. */
  readonly #alive: KeepAlive;
  /** Why QEMU said it stops (its SHUTDOWN event), for shutdown()'s result. */
  readonly #shutdownReason: ShutdownReason;

  /**
   * Starts watching for QEMU's exit, and releases the VM when it comes.
   *
   * @param parts What `launch()` made.
   * @param agent The guest agent client, when the VM has one.
   * @param closers What else the VM holds open (its ssh connection), closed when it is released.
   * @param shutdownReason Why QEMU said it stops (its SHUTDOWN events), for the result.
   */
  constructor(
    parts: VmParts,
    agent: GuestAgent | undefined,
    closers: readonly { close(): Promise<void> }[],
    shutdownReason: ShutdownReason,
  ) {
    this.#parts = parts;
    this.#agent = agent;
    this.#closers = closers;
    this.#alive = new KeepAlive(parts.process);
    this.#shutdownReason = shutdownReason;
    parts.exited.then((exit) => {
      this.#exit = exit;
      // Nothing of an exited VM is worth keeping: its sockets, directory and registry entry go
      // now, whether or not anyone shuts it down or disposes of it. An error here is thrown by
      // shutdown() and dispose, which await the same work.
      this.#release().catch(() => {});
    });
  }

  /**
   * Resolves when QEMU exits; once read, the script waits for QEMU to exit (`Vm.exited`).
   *
   * @returns QEMU's exit.
   */
  get exited(): Promise<VmExit> {
    if (!this.#watchingExit) {
      this.#watchingExit = true;
      this.#alive.during(this.#parts.exited);
    }
    return this.#parts.exited;
  }

  /** QEMU's exit, once it has exited. */
  get exit(): VmExit | undefined {
    return this.#exit;
  }

  /**
   * Sends a signal to QEMU, unless it has exited (`Vm.kill`).
   *
   * @param signal The signal.
   */
  kill(signal: Deno.Signal): void {
    if (this.#exit !== undefined) return;
    try {
      this.#parts.process.kill(signal);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      // TypeError: the child has already exited.
    }
  }

  /**
   * Stops the VM step by step, then releases it (`Vm.shutdown`); a second call returns the
   * first one's result.
   *
   * @param options Wait of each step.
   * @returns How it ended.
   * @throws {RangeError} When a wait is not a valid timeout.
   */
  shutdown(options: ShutdownOptions): Promise<ShutdownResult> {
    try {
      checkTimeout("shut down the VM", options.timeout);
      checkTimeout("shut down the VM", options.quitTimeout);
      checkTimeout("shut down the VM", options.termTimeout);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#shutdown ??= this.#runShutdown(options).then(async (result) => {
      await this.#release();
      return result;
    });
    return this.#shutdown;
  }

  /**
   * Shuts down (if running) and releases the VM (`Vm[Symbol.asyncDispose]`); runs once.
   *
   * @returns When the VM is released.
   */
  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      try {
        if (this.#exit === undefined) await this.shutdown({});
      } finally {
        await this.#release();
      }
    })();
    return this.#disposed;
  }

  async #runShutdown(options: ShutdownOptions): Promise<ShutdownResult> {
    const started = performance.now();
    const done = async (method: ShutdownResult["method"], exit: VmExit) => {
      // QEMU has exited.
      const reason = await this.#shutdownReason.final();
      // The guest ended QEMU itself while it was asked to power off: it reset (a panic, a
      // triple fault) or panicked; the power button or the agent did not do it.
      const byGuest = reason !== undefined && reason.startsWith("guest-") &&
        reason !== "guest-shutdown";
      return {
        method: byGuest && (method === "powerdown" || method === "agent")
          ? "already-exited"
          : method,
        exit,
        ...reason === undefined ? {} : { reason },
        durationMs: performance.now() - started,
      } satisfies ShutdownResult;
    };
    if (this.#exit !== undefined) return done("already-exited", this.#exit);
    const qmp = this.#parts.qmp;
    const powerdown = options.timeout ?? 10_000;
    // A guest whose CPUs are stopped cannot react to the power button.
    const status = await qmp.execute("query-status", undefined, { timeout: 1000 }).catch(() =>
      undefined
    );
    const running = (status as { running?: boolean } | undefined)?.running === true;
    // QEMU announced that it stops (the guest powered off or reset on its own): it exits now,
    // unless -no-shutdown keeps it up.
    if (this.#shutdownReason.reason !== undefined) {
      const exit = await this.#waitExit(1000);
      if (exit !== undefined) return done("already-exited", exit);
    }
    const askedAt = performance.now();
    if (powerdown > 0 && running && this.#agent?.portOpen === true) {
      const exit = await this.#agentShutdown(powerdown, options);
      if (exit !== undefined) return done("agent", exit);
    }
    const left = Math.max(0, powerdown - (performance.now() - askedAt));
    if (left > 0 && running) {
      const exit = await this.#powerdown(left, options);
      if (exit !== undefined) return done("powerdown", exit);
    }
    await qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
    let exit = await this.#waitExit(options.quitTimeout ?? 3000);
    if (exit !== undefined) return done("quit", exit);
    this.kill("SIGTERM");
    exit = await this.#waitExit(options.termTimeout ?? 3000);
    if (exit !== undefined) return done("sigterm", exit);
    this.kill("SIGKILL");
    return done("sigkill", await this.#alive.during(this.#parts.exited));
  }

  /**
   * Asks the guest's agent to power the guest off (`guest-shutdown`), within `ms`; a guest that
   * powered off while QEMU stays (`-no-shutdown`) is then quit.
   *
   * @returns QEMU's exit, or `undefined` when the agent failed or the guest did not stop in time.
   */
  async #agentShutdown(ms: number, options: ShutdownOptions): Promise<VmExit | undefined> {
    try {
      await this.#agent!.shutdown({ timeout: ms });
    } catch {
      // The agent stopped answering or failed: the power button comes next.
      return undefined;
    }
    const exit = await this.#waitExit(Math.min(ms, 1000));
    if (exit !== undefined) return exit;
    await this.#parts.qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
    return await this.#waitExit(options.quitTimeout ?? 3000);
  }

  /**
   * Presses the power button every {@linkcode REPRESS_MS} until the guest powers off or `ms`
   * pass. A guest that powered off is done even when QEMU stays (`-no-shutdown`): then it quits.
   *
   * @returns QEMU's exit, or `undefined` when the guest did not power off in time.
   */
  async #powerdown(ms: number, options: ShutdownOptions): Promise<VmExit | undefined> {
    const qmp = this.#parts.qmp;
    const stop = new AbortController();
    const poweredOff = qmp.waitForEvent("SHUTDOWN", {
      match: { guest: true },
      signal: stop.signal,
      keepAlive: false,
    }).then(() => true, () => new Promise<never>(() => {}));
    try {
      const deadline = performance.now() + ms;
      while (true) {
        await qmp.execute("system_powerdown", undefined, { timeout: 1000 }).catch(() => {});
        const left = deadline - performance.now();
        const wait = Math.max(0, Math.min(REPRESS_MS, left));
        const ended = await settledWithin(Promise.race([this.#parts.exited, poweredOff]), wait);
        if (typeof ended === "object") return ended;
        if (ended === true) {
          await qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
          const quit = await this.#waitExit(options.quitTimeout ?? 3000);
          if (quit !== undefined) return quit;
        }
        if (left <= REPRESS_MS) return undefined;
      }
    } finally {
      stop.abort();
    }
  }

  #waitExit(ms: number): Promise<VmExit | undefined> {
    return settledWithin(this.#parts.exited, ms);
  }

  /**
   * Lets go of everything an exited VM owned: the QMP and console connections (after reading
   * what QEMU wrote before it exited), the runtime directory, and its entry in the registry
   * that kills QEMU when the script ends. Runs once.
   */
  #release(): Promise<void> {
    this.#released ??= (async () => {
      const { qmp, console } = this.#parts;
      await this.#alive.during(this.#parts.exited);
      // QEMU has exited: its sockets hit EOF once their last bytes are read.
      await settledWithin(Promise.all([qmp.closed, console.closed]), 1000);
      await qmp.close();
      await console.close();
      await this.#agent?.close();
      for (const closer of this.#closers) await closer.close().catch(() => {});
      for (const sidecar of [...this.#parts.sidecars].reverse()) {
        await sidecar.stop();
      }
      try {
        await Deno.remove(this.#parts.runtimeDir, { recursive: true }).catch(ignoreNotFound);
        // QEMU removes the sockets it served when it exits cleanly, not when it is killed.
        for (const path of this.#parts.builder.qmpSockets) {
          if ((await Deno.lstat(path).catch(() => undefined))?.isSocket) {
            await Deno.remove(path).catch(ignoreNotFound);
          }
        }
      } finally {
        this.#parts.release();
      }
    })();
    return this.#released;
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
