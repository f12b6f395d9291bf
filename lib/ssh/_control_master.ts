// One ssh ControlMaster per client: a foreground `ssh -M -N` child that vmkit owns (not one
// that daemonizes itself through ControlPersist), so stopping it is killing a known process.
// It is ready once its control socket exists; it logs (-v -E) to a file, which is where an
// "exit-signal" of a multiplexed session shows up.

import { pathExists } from "../_fs.ts";
import { SshError, type SshFailure } from "./errors.ts";
import { optionValue } from "./_option_value.ts";
import { classifyFailure, sshMessages } from "./_ssh_log.ts";
import { killOnLimit, type RunLimit, spawnSsh } from "./_run_ssh.ts";

/** A running ControlMaster. */
export class ControlMaster {
  readonly #child: Deno.ChildProcess;
  readonly #socket: string;
  readonly #log: string;
  #exited = false;
  readonly #status: Promise<Deno.CommandStatus>;

  constructor(child: Deno.ChildProcess, socket: string, log: string) {
    this.#child = child;
    this.#socket = socket;
    this.#log = log;
    this.#status = child.status.finally(() => (this.#exited = true));
  }

  /**
   * Starts a master with `args` (the connection's options and destination come last) and waits
   * until its socket exists. Rejects with {@linkcode SshError} when it exits first (what it
   * logged says why), or with the limit's error after killing it.
   */
  static async start(
    args: readonly string[],
    destination: readonly string[],
    paths: { socket: string; log: string },
    limit: RunLimit,
    about: { action: string; hint: (failure: SshFailure) => string | undefined },
    track: { add(child: Deno.ChildProcess): void; delete(child: Deno.ChildProcess): void },
  ): Promise<ControlMaster> {
    limit.signal?.throwIfAborted();
    await Deno.remove(paths.log).catch(() => {});
    const argv = [
      ...args,
      "-o",
      "ControlMaster=yes",
      "-o",
      `ControlPath=${optionValue(paths.socket)}`,
      "-o",
      "ControlPersist=no",
      "-N",
      "-v",
      "-E",
      paths.log,
      ...destination,
    ];
    const child = spawnSsh(argv, { stdin: "null", stdout: "null", stderr: "null" });
    const master = new ControlMaster(child, paths.socket, paths.log);
    // Tracked while it starts, so closing the client meanwhile kills it.
    track.add(child);
    const watch = killOnLimit(child, limit);
    try {
      // ssh binds the socket under a temporary name and renames it when it listens: its
      // existence means the master is connected, authenticated and serving.
      let pause = 2;
      while (!master.#exited && !(await pathExists(paths.socket))) {
        await Promise.race([
          master.#status,
          new Promise((resolve) => setTimeout(resolve, pause)),
        ]);
        pause = Math.min(pause * 2, 25);
      }
      if (master.#exited) {
        const status = await master.#status;
        const why = watch.stopped();
        if (why !== undefined) throw why;
        const log = await Deno.readTextFile(paths.log).catch(() => "");
        const messages = sshMessages(log);
        const failure = classifyFailure(messages);
        throw new SshError(about.action, {
          failure,
          messages,
          argv: ["ssh", ...argv],
          exitCode: status.code,
          hint: about.hint(failure),
        });
      }
      return master;
    } catch (error) {
      await master.stop();
      throw error;
    } finally {
      watch.done();
      track.delete(child);
    }
  }

  /** Whether the master still runs (a lost connection ends it). */
  get alive(): boolean {
    return !this.#exited;
  }

  /** The control socket's path. */
  get socket(): string {
    return this.#socket;
  }

  /** What the master has logged so far. */
  async log(): Promise<string> {
    return await Deno.readTextFile(this.#log).catch(() => "");
  }

  /** Stops the master (SIGTERM; it closes its sessions and removes its socket) and its files. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // It exited meanwhile.
      }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // It exited meanwhile.
        }
      }, 2000);
      await this.#status;
      clearTimeout(timer);
    } else {
      await this.#status;
    }
    await Deno.remove(this.#socket).catch(() => {});
    await Deno.remove(this.#log).catch(() => {});
  }
}
