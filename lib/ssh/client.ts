/**
 * Commands and shells on a guest through the system `ssh` client, with the host key checked
 * strictly against a known_hosts file, one key, and no user or system ssh configuration.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { shellQuote } from "../vm/qemu_opts.ts";
import { SshError, type SshFailure, SshTimeoutError } from "./errors.ts";
import { optionValue } from "./_option_value.ts";
import { waitForBanner } from "./_banner.ts";
import { ControlMaster } from "./_control_master.ts";
import { killOnLimit, type RunLimit, runSsh, spawnSsh } from "./_run_ssh.ts";
import { masterSawSignal, readSshLog } from "./_ssh_log.ts";

/** Where and as whom {@linkcode SshClient} logs in. */
export interface SshClientOptions {
  /** Host to connect to. Default `"127.0.0.1"` (a user-network host forward). */
  host?: string;
  /** Port to connect to, such as a forward's host port. Default 22. */
  port?: number;
  /** The user to log in as. */
  user: string;
  /** The private key file (`-i`), such as {@linkcode generateSshKey} made. */
  identity: string;
  /** The known_hosts file with the guest's host keys (`-o UserKnownHostsFile=`). */
  knownHostsFile: string;
  /**
   * The name the host keys are filed under in `knownHostsFile` (`-o HostKeyAlias=`), instead of
   * `[host]:port`: the file then holds whatever port the guest is reached on.
   */
  hostKeyAlias?: string;
  /**
   * A private directory for the ControlMaster's socket and ssh's logs (a VM's `runtimeDir`).
   * Default a temporary directory, removed on close. Its path must be short enough for a unix
   * socket name (at most 70 characters).
   */
  runtimeDir?: string;
  /**
   * Run commands through one ssh connection (a ControlMaster this client starts on the first
   * `exec` and stops on close), instead of one connection per command. Default `true`: a
   * command then costs one round trip instead of a key exchange and a login.
   */
  multiplex?: boolean;
}

/** Options of {@linkcode SshClient.exec}. */
export interface SshExecOptions extends WaitOptions {
  /** The remote command's stdin; without it, stdin is empty (`/dev/null`). */
  stdin?: string | Uint8Array;
}

/** How a remote command ended, and what it printed. */
export interface SshExecResult {
  /** Its exit status, 0 to 255; `null` when a signal killed it. */
  exitCode: number | null;
  /**
   * Whether a signal killed it. Which signal is not known: sshd sends its name ("exit-signal"),
   * but OpenSSH's client drops it; vmkit learns from ssh's debug log that it came.
   */
  signaled: boolean;
  /** What it wrote to stdout (UTF-8). */
  stdout: string;
  /** What it wrote to stderr (UTF-8); ssh's own messages are never in it. */
  stderr: string;
}

/** Options of {@linkcode SshClient.shell}. */
export interface SshShellOptions {
  /** A command to run instead of the login shell (still with the terminal). */
  command?: string | readonly string[];
  /** Ends the session: its ssh client is killed. */
  signal?: AbortSignal;
}

/** The longest socket path ssh can make: 108 bytes of `sun_path`, less its 17-byte suffix. */
const SOCKET_PATH_MAX = 90;

/**
 * Logs into a guest with the system `ssh` client: `exec` runs commands and collects their
 * output, `shell` opens an interactive session on the terminal, `command` gives the line to
 * paste. Host keys are checked strictly (`StrictHostKeyChecking=yes`) against
 * `knownHostsFile`; only `identity` is offered; `~/.ssh/config` and `/etc/ssh/ssh_config` are
 * not read (`-F none`). Close it (or `await using`) to stop its ControlMaster.
 *
 * @example
 * ```ts
 * declare const dir: string;
 * import { SshClient } from "@vmkit/vmkit";
 * await using ssh = new SshClient({
 *   port: 2222,
 *   user: "debian",
 *   identity: `${dir}/id_ed25519`,
 *   knownHostsFile: `${dir}/known_hosts`,
 * });
 * await ssh.waitUntilReady({ timeout: 120_000 });
 * const { exitCode, stdout } = await ssh.exec("id -un");
 * console.log(ssh.command()); // ssh -F none -i ... debian@127.0.0.1
 * ```
 */
export class SshClient implements AsyncDisposable {
  readonly #options: Readonly<SshClientOptions>;
  readonly #host: string;
  readonly #port: number;
  readonly #id = crypto.randomUUID().slice(0, 8);
  readonly #children = new Set<Deno.ChildProcess>();
  #dir: Promise<string> | undefined;
  #master: Promise<ControlMaster> | undefined;
  #runs = 0;
  #closed = false;

  /**
   * Makes a client; nothing connects until it is used.
   *
   * @param options Host, port, user, key, known hosts, and where to keep its files.
   * @throws {TypeError} When the user, key or known hosts file is missing or malformed.
   * @throws {RangeError} When the port is not 1 to 65535, or `runtimeDir` is too long for a
   *   socket path.
   */
  constructor(options: SshClientOptions) {
    const { user, identity, knownHostsFile, hostKeyAlias, runtimeDir } = options;
    this.#host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? 22;
    if (typeof user !== "string" || !/^[^\s@:]+$/.test(user)) {
      throw new TypeError(
        `Cannot make an ssh client for user ${
          JSON.stringify(user)
        }: use a user name without spaces, "@" or ":"`,
      );
    }
    if (!/^[^\s@]+$/.test(this.#host)) {
      throw new TypeError(
        `Cannot make an ssh client for host ${
          JSON.stringify(this.#host)
        }: use a host name or address`,
      );
    }
    if (!Number.isInteger(this.#port) || this.#port < 1 || this.#port > 65535) {
      throw new RangeError(
        `Cannot make an ssh client for port ${this.#port}: use a port from 1 to 65535`,
      );
    }
    for (const [field, value] of [["identity", identity], ["knownHostsFile", knownHostsFile]]) {
      if (typeof value !== "string" || value === "") {
        throw new TypeError(
          `Cannot make an ssh client with ${field} ${JSON.stringify(value)}: give a file path`,
        );
      }
    }
    if (hostKeyAlias !== undefined && !/^[^\s,#*?!\[\]]+$/.test(hostKeyAlias)) {
      throw new TypeError(
        `Cannot make an ssh client with hostKeyAlias ${
          JSON.stringify(hostKeyAlias)
        }: use a name without spaces, commas, brackets, wildcards or "#"`,
      );
    }
    if (runtimeDir !== undefined && this.#socketPath(runtimeDir).length > SOCKET_PATH_MAX) {
      throw new RangeError(
        `Cannot keep an ssh control socket in "${runtimeDir}": the path is ${runtimeDir.length} characters, more than a unix socket name holds; use a directory of at most 70`,
      );
    }
    this.#options = { ...options };
  }

  /** Where it connects: `user@host:port`. */
  get destination(): string {
    return `${this.#options.user}@${this.#host}:${this.#port}`;
  }

  /**
   * The ssh command line to paste into a shell, quoted for POSIX shells: the same options
   * `exec` uses, without batch mode, logging or the ControlMaster.
   *
   * @param remoteCommand A command to run; without it, the line opens a login shell.
   * @returns The line, such as `ssh -F none -i /run/vm/id_ed25519 -p 2222 -o ... debian@127.0.0.1`.
   *
   * @example
   * ```ts
   * import type { SshClient } from "@vmkit/vmkit";
   * declare const ssh: SshClient;
   * console.log(ssh.command());            // log in
   * console.log(ssh.command("uptime"));    // run one command
   * ```
   */
  command(remoteCommand?: string | readonly string[]): string {
    const argv = ["ssh", ...this.#baseArgs(), ...this.#destination()];
    if (remoteCommand !== undefined) argv.push(this.#remote("print", remoteCommand));
    return argv.map(shellQuote).join(" ");
  }

  /**
   * Waits until the SSH server answers with its `SSH-` identification line. QEMU's user network
   * accepts a forwarded connection even when nothing listens in the guest, so it connects and
   * reads; a refused or closed connection is tried again after a short pause (10 ms, growing
   * to 100 ms). Until one was refused or closed, a connection silent for a second gets another
   * beside it: QEMU's user network holds a connection made before the guest's network is up
   * for 6 s or more, until it sends the guest its SYN again.
   *
   * @param options Time limit and signal.
   * @returns The server's identification, such as `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`.
   * @throws {SshTimeoutError} When no banner came within `timeout`; the message has the last
   *   connection error.
   *
   * @example
   * ```ts
   * import type { SshClient } from "@vmkit/vmkit";
   * declare const ssh: SshClient;
   * await ssh.waitUntilReady({ timeout: 120_000 });
   * ```
   */
  async waitUntilReady(options: WaitOptions = {}): Promise<string> {
    checkTimeout("wait for ssh", options.timeout);
    const { signal, timeout } = options;
    signal?.throwIfAborted();
    let last = "no attempt finished";
    const what = `the SSH banner of ${this.#host}:${this.#port}`;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = timeout === undefined ? undefined : setTimeout(() => {
      controller.abort(new SshTimeoutError(what, timeout, last));
    }, timeout);
    try {
      return await waitForBanner(this.#host, this.#port, {
        signal: controller.signal,
        onError: (error) => last = error,
      });
    } catch (error) {
      // The timer aborts with an error made before the last attempt's reason: remake it.
      if (error instanceof SshTimeoutError) throw new SshTimeoutError(what, timeout!, last);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Runs a command on the guest and collects its output.
   *
   * @param command A command line for the remote shell, or an argv that is quoted for it.
   * @param options Its stdin; time limit and signal (on either, the ssh client is killed; the
   *   remote command itself may run on, as sshd does not kill it).
   * @returns Its exit status (or that a signal killed it), stdout and stderr.
   * @throws {SshError} When ssh itself failed: it could not connect, the host key did not
   *   match (`failure: "host-key"`), the key was refused.
   * @throws {SshTimeoutError} When it did not finish within `timeout`.
   * @throws {TypeError} When the command is empty, or the client is closed.
   *
   * @example
   * ```ts
   * import type { SshClient } from "@vmkit/vmkit";
   * declare const ssh: SshClient;
   * const { exitCode, stdout } = await ssh.exec(["cat", "/etc/hostname"]);
   * const sorted = await ssh.exec("sort", { stdin: "b\na\n" });
   * ```
   */
  async exec(
    command: string | readonly string[],
    options: SshExecOptions = {},
  ): Promise<SshExecResult> {
    const remote = this.#remote("run", command);
    checkTimeout(`run "${remote}" over ssh`, options.timeout);
    this.#checkOpen(`run "${remote}" over ssh`);
    options.signal?.throwIfAborted();
    const action = `Cannot run ${JSON.stringify(remote)} over ssh to ${this.destination}`;
    const limit: RunLimit = {
      signal: options.signal,
      end: options.timeout === undefined ? undefined : performance.now() + options.timeout,
      onTimeout: () => new SshTimeoutError(`${JSON.stringify(remote)} to finish`, options.timeout!),
    };
    const dir = await this.#runtimeDir();
    const master = this.#options.multiplex === false
      ? undefined
      : await this.#ensureMaster(action, limit);
    const log = `${dir}/ssh-${this.#id}.${++this.#runs}.log`;
    const args = [
      ...this.#baseArgs(),
      "-o",
      "BatchMode=yes",
      ...master === undefined
        ? []
        : ["-o", "ControlMaster=no", "-o", `ControlPath=${optionValue(master.socket)}`],
      "-vv",
      "-E",
      log,
      ...this.#destination(),
      remote,
    ];
    try {
      const output = await runSsh(args, options.stdin, limit, this.#children);
      const outcome = readSshLog(await Deno.readTextFile(log).catch(() => ""));
      const result = (exitCode: number | null, signaled: boolean): SshExecResult => ({
        exitCode,
        signaled,
        stdout: output.stdout,
        stderr: output.stderr,
      });
      switch (outcome.kind) {
        case "exit":
          return result(outcome.code, false);
        case "signal":
          return result(null, true);
        case "mux-unknown": {
          const masterLog = master === undefined ? "" : await master.log();
          if (masterSawSignal(masterLog, outcome.session)) return result(null, true);
          throw new SshError(action, {
            failure: "connect",
            messages: "the ControlMaster's connection ended before the command did",
            argv: ["ssh", ...args],
            exitCode: output.code,
          });
        }
        case "failed":
          throw new SshError(action, {
            failure: outcome.failure,
            messages: outcome.messages,
            argv: ["ssh", ...args],
            exitCode: output.code,
            hint: hintFor(outcome.failure, this.#options),
          });
      }
    } finally {
      await Deno.remove(log).catch(() => {});
    }
  }

  /**
   * Opens an interactive session on this process's terminal (stdin, stdout and stderr are
   * inherited; ssh allocates a terminal when stdin is one), through the ControlMaster when
   * one runs.
   *
   * @param options A command to run instead of the login shell; a signal that ends it.
   * @returns The exit status of the session (255 when ssh failed: it said why on the terminal).
   * @throws {TypeError} When the client is closed.
   *
   * @example
   * ```ts
   * import type { SshClient } from "@vmkit/vmkit";
   * declare const ssh: SshClient;
   * const status = await ssh.shell();
   * ```
   */
  async shell(options: SshShellOptions = {}): Promise<number> {
    this.#checkOpen("open an ssh shell");
    options.signal?.throwIfAborted();
    const master = this.#master === undefined
      ? undefined
      : await this.#master.catch(() => undefined);
    const args = [
      ...this.#baseArgs(),
      ...master?.alive
        ? ["-o", "ControlMaster=no", "-o", `ControlPath=${optionValue(master.socket)}`]
        : [],
      ...this.#destination(),
      ...options.command === undefined ? [] : [this.#remote("run", options.command)],
    ];
    const child = spawnSsh(args, { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    this.#children.add(child);
    const watch = killOnLimit(child, {
      signal: options.signal,
      onTimeout: () => new Error("unreachable: a shell has no time limit"),
    });
    try {
      const status = await child.status;
      const why = watch.stopped();
      if (why !== undefined) throw why;
      return status.code;
    } finally {
      watch.done();
      this.#children.delete(child);
    }
  }

  /**
   * Stops the ControlMaster and any ssh client still running, and removes the files this client
   * made (its temporary directory, if it made one). Calling it again does nothing.
   *
   * @returns Nothing, once everything is stopped and removed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    await Promise.all([...this.#children].map((child) => child.status));
    const master = await this.#master?.catch(() => undefined);
    await master?.stop();
    if (this.#dir !== undefined && this.#options.runtimeDir === undefined) {
      const dir = await this.#dir.catch(() => undefined);
      if (dir !== undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** Same as {@linkcode SshClient.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The options every ssh run has: no config files, one key, strict host keys. */
  #baseArgs(): string[] {
    const o = this.#options;
    return [
      "-F",
      "none",
      // ssh takes -i only if the path exists as given, then expands % tokens in it: a path
      // with a % goes through the config parser instead.
      ...o.identity.includes("%")
        ? ["-o", `IdentityFile=${optionValue(o.identity)}`]
        : ["-i", o.identity],
      "-p",
      String(this.#port),
      "-o",
      `UserKnownHostsFile=${optionValue(o.knownHostsFile)}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "IdentitiesOnly=yes",
      ...o.hostKeyAlias === undefined ? [] : ["-o", `HostKeyAlias=${o.hostKeyAlias}`],
    ];
  }

  /** The destination, after `--` so nothing after it is read as an option. */
  #destination(): string[] {
    return ["--", `${this.#options.user}@${this.#host}`];
  }

  /** The remote command line: a string as given, an argv quoted for the remote shell. */
  #remote(verb: string, command: string | readonly string[]): string {
    const line = typeof command === "string" ? command : command.map(shellQuote).join(" ");
    if (typeof command !== "string" && !Array.isArray(command)) {
      throw new TypeError(
        `Cannot ${verb} ${JSON.stringify(command)} over ssh: give a string or an argv`,
      );
    }
    if (line.trim() === "") {
      throw new TypeError(`Cannot ${verb} an empty command over ssh: give a command`);
    }
    return line;
  }

  #checkOpen(action: string): void {
    if (this.#closed) {
      throw new TypeError(`Cannot ${action} to ${this.destination}: the client is closed`);
    }
  }

  #socketPath(dir: string): string {
    return `${dir}/ssh-${this.#id}.mux`;
  }

  #runtimeDir(): Promise<string> {
    this.#dir ??= this.#options.runtimeDir !== undefined
      ? Promise.resolve(this.#options.runtimeDir)
      : Deno.makeTempDir({ prefix: "vmkit-ssh-" });
    return this.#dir;
  }

  /** The running ControlMaster, started (again, if its connection ended) when needed. */
  async #ensureMaster(action: string, limit: RunLimit): Promise<ControlMaster> {
    let previous: ControlMaster | undefined;
    while (this.#master !== undefined) {
      const pending = this.#master;
      // One started by a concurrent call that failed (or was cancelled) is started again here,
      // with this call's own limit: that call has its own error.
      const current = await pending.catch(() => undefined);
      if (this.#master !== pending) continue;
      if (current?.alive) return current;
      previous = current;
      break;
    }
    const started = (async () => {
      await previous?.stop();
      const dir = await this.#runtimeDir();
      return await ControlMaster.start(
        [...this.#baseArgs(), "-o", "BatchMode=yes"],
        this.#destination(),
        { socket: this.#socketPath(dir), log: `${dir}/ssh-${this.#id}.master.log` },
        limit,
        { action, hint: (failure) => hintFor(failure, this.#options) },
        this.#children,
      );
    })();
    this.#master = started;
    const master = await started;
    if (this.#closed) {
      await master.stop();
      throw new TypeError(`${action}: the client was closed meanwhile`);
    }
    return master;
  }
}

/** What to do about a failure, for the error message. */
function hintFor(failure: SshFailure, options: Readonly<SshClientOptions>): string | undefined {
  switch (failure) {
    case "host-key":
      return `the guest's host key is not the one in "${options.knownHostsFile}"${
        options.hostKeyAlias === undefined ? "" : ` under "${options.hostKeyAlias}"`
      }: learn it again (hostKeysFromConsole) if the guest was rebuilt`;
    case "auth":
      return `the guest does not accept the key "${options.identity}" for user "${options.user}": give the public key to the guest (cloud-init ssh_authorized_keys)`;
    case "connect":
      return `is the guest's sshd up? wait for it first: vm.ready({ stages: ["ssh"] }) for a VM, waitUntilReady() for this client`;
    default:
      return undefined;
  }
}
