/**
 * `vm.ssh`: commands and shells on a VM built with `.ssh()`, through the system `ssh` client,
 * with the guest's host key known before it boots (the seed gives it) or learned from cloud-init's
 * console output, and checked strictly either way.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import {
  SshClient,
  type SshExecOptions,
  type SshExecResult,
  type SshShellOptions,
} from "../ssh/client.ts";
import { SshError } from "../ssh/errors.ts";
import { hostKeysFromConsole } from "../ssh/host_keys.ts";
import { writeKnownHosts } from "../ssh/known_hosts.ts";
import type { Console } from "./console.ts";
import type { LaunchFacts } from "./devices/_kind.ts";
import { HOST_KEY_ALIAS, KNOWN_HOSTS, SSH_DIR } from "./devices/ssh.ts";
import { VmGoneError } from "./errors.ts";

const HOST_KEYS_END = "-----END SSH HOST KEY KEYS-----";

/** What `vm.ssh` needs of its VM. */
export interface VmSshParts {
  /** The key pair, user and host key from launch. */
  ssh: NonNullable<LaunchFacts["ssh"]>;
  /** The host port forwarded to guest port 22. */
  port: number;
  /** The VM's runtime directory (the keys and known_hosts are in its `ssh/`). */
  runtimeDir: string;
  /** The console, where cloud-init prints the host keys when the seed gave none. */
  console: Console;
  /** Resolves with the reason once the guest can do nothing more. */
  failure: Promise<string>;
}

/** A login that works but does not run commands: `true` did not exit 0. */
export class SshLoginError extends Error {
  /** Always `"SshLoginError"`. */
  override readonly name = "SshLoginError";
  /** What the login printed instead. */
  readonly output: string;

  /**
   * Makes the error.
   *
   * @param user The user.
   * @param login What `true` gave.
   */
  constructor(user: string, login: SshExecResult) {
    const output = `${login.stdout}${login.stderr}`.trim();
    super(
      `Cannot use ssh as "${user}": a login runs "true" and gets ${
        login.exitCode === null ? "a signal" : `exit code ${login.exitCode}`
      }${output ? `, saying ${JSON.stringify(output)}` : ""}`,
    );
    this.output = output;
  }
}

/** SSH into a running VM (`vm.ssh`); it closes with the VM. */
export class VmSsh implements AsyncDisposable {
  readonly #parts: VmSshParts;
  readonly #client: SshClient;
  readonly #knownHostsFile: string;
  #hostKeys?: Promise<void>;
  #lastAttempt = "sshd has not answered yet";
  #knownHosts?: string[];

  /**
   * Made by the VM at launch.
   *
   * @param parts Keys, port, runtime directory, console and failure watch.
   */
  constructor(parts: VmSshParts) {
    this.#parts = parts;
    this.#knownHostsFile = `${parts.runtimeDir}/${SSH_DIR}/${KNOWN_HOSTS}`;
    // The seed gave the guest a host key, and launch wrote it in the known_hosts file.
    if (parts.ssh.hostKeyGiven) this.#knownHosts = [parts.ssh.hostKey.publicKey];
    this.#client = new SshClient({
      port: parts.port,
      user: parts.ssh.user,
      identity: parts.ssh.privateKey,
      knownHostsFile: this.#knownHostsFile,
      hostKeyAlias: HOST_KEY_ALIAS,
      runtimeDir: `${parts.runtimeDir}/${SSH_DIR}`,
    });
  }

  /** The host port forwarded to the guest's port 22 (picked at launch). */
  get port(): number {
    return this.#parts.port;
  }

  /** The user `vm.ssh` logs in as. */
  get user(): string {
    return this.#parts.ssh.user;
  }

  /** The private key it logs in with. */
  get identity(): string {
    return this.#parts.ssh.privateKey;
  }

  /**
   * The exact `ssh` command line to paste into a shell to log in (or run `remote`), with the
   * key, the port and the known_hosts file, while the VM runs. The guest's host key is in the
   * file from launch when the seed gave it; otherwise once {@linkcode VmSsh.ready} resolved.
   *
   * @param remote A command to run instead of a login shell.
   * @returns The shell-quoted line.
   */
  command(remote?: string | readonly string[]): string {
    return this.#client.command(remote);
  }

  /**
   * Runs a command on the guest over ssh and collects its output. It waits until the guest's
   * host key is known, and fails at once when QEMU exits or the guest panics.
   *
   * @param command A shell line, or an argv quoted for the remote shell.
   * @param options Standard input, time limit, signal (on either, the ssh client is killed;
   *   sshd does not stop the remote command, which may run on: `vm.agent.exec` kills it).
   * @returns Exit status (or that a signal killed it), standard output and error.
   * @throws {SshError} When ssh itself fails: refused connection, refused key, host key mismatch.
   * @throws {SshTimeoutError} When it runs past `timeout`.
   * @throws {VmGoneError} When QEMU exits or the guest panics first.
   */
  async exec(
    command: string | readonly string[],
    options: SshExecOptions = {},
  ): Promise<SshExecResult> {
    checkTimeout("run a command over ssh", options.timeout);
    return await this.#whileAlive("run a command over ssh", async () => {
      await this.#knowHostKeys(options);
      return await this.#client.exec(command, options);
    });
  }

  /**
   * Opens an interactive session on this terminal (or runs `command` with it).
   *
   * @param options A command, and a signal that ends the session.
   * @returns The session's exit status.
   */
  async shell(options: SshShellOptions = {}): Promise<number> {
    await this.#knowHostKeys({ signal: options.signal });
    return await this.#client.shell(options);
  }

  /**
   * Waits until ssh logs in: the guest's host key is known, sshd answers, and a login runs
   * `true` (retried while the guest's user or key is not set up yet).
   *
   * @param options Time limit (default none) and signal.
   * @returns When a login worked.
   * @throws {SshError} When the host key does not match.
   */
  async ready(options: WaitOptions = {}): Promise<void> {
    checkTimeout("wait for ssh", options.timeout);
    const end = options.timeout === undefined ? undefined : performance.now() + options.timeout;
    const left = () => end === undefined ? undefined : Math.max(0, end - performance.now());
    await this.#whileAlive("wait for ssh", async () => {
      await this.#knowHostKeys({ signal: options.signal, timeout: left() });
      for (let pause = 50;; pause = Math.min(pause * 2, 500)) {
        await this.#client.waitUntilReady({ signal: options.signal, timeout: left() });
        this.#lastAttempt = "sshd answers; no login has worked yet";
        try {
          const login = await this.#client.exec("true", {
            signal: options.signal,
            timeout: left(),
          });
          if (login.exitCode === 0) return;
          // A key with a forced command (cloud-init's disable_root) logs in and runs something
          // else: no wait makes that a working login.
          throw new SshLoginError(this.#parts.ssh.user, login);
        } catch (error) {
          // sshd starts before cloud-init has made the user or written its key.
          if (!(error instanceof SshError) || error.failure === "host-key") throw error;
          this.#lastAttempt = `the last login failed (${error.failure}): ${error.messages.trim()}`;
          const wait = left();
          if (wait !== undefined && wait <= pause) throw error;
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }
    });
  }

  /** What is known of why {@linkcode VmSsh.ready} has not finished, for a timeout's message. */
  get lateReason(): string {
    if (this.#knownHosts === undefined) {
      return "cloud-init has not printed the guest's host keys on the console yet";
    }
    return this.#lastAttempt;
  }

  /** Stops the ssh connection it keeps (its ControlMaster). */
  async close(): Promise<void> {
    await this.#client.close();
  }

  /** Same as {@linkcode VmSsh.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Runs `work`, failing at once with the reason when the guest ends first. */
  async #whileAlive<T>(action: string, work: () => Promise<T>): Promise<T> {
    const gone = this.#parts.failure.then((reason): never => {
      throw new VmGoneError(action, reason);
    });
    gone.catch(() => {});
    return await Promise.race([work(), gone]);
  }

  /**
   * Writes the known_hosts file once: the host key the seed gave the guest, or the keys
   * cloud-init printed on the console.
   */
  #knowHostKeys(options: WaitOptions): Promise<void> {
    const ssh = this.#parts.ssh;
    if (ssh.hostKeyGiven) return Promise.resolve();
    this.#hostKeys ??= (async () => {
      await this.#parts.console.seen(HOST_KEYS_END, { signal: options.signal });
      const keys = hostKeysFromConsole(this.#parts.console.transcript);
      await writeKnownHosts(this.#knownHostsFile, keys, { hostKeyAlias: HOST_KEY_ALIAS });
      this.#knownHosts = keys;
    })();
    const pending = this.#hostKeys;
    pending.catch(() => (this.#hostKeys = undefined));
    return pending;
  }
}
