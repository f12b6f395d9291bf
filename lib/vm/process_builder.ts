/**
 * The process half of the VM builder: which QEMU runs and how its process behaves — binary,
 * name, pid file, logs, extra QMP monitors, sandbox, user, raw arguments. {@linkcode
 * MachineBuilder} adds the machine, {@linkcode VmBuilder} the devices.
 *
 * @module
 */

import type { ArchProfile } from "./arch.ts";
import { checkValue, escapeOptionValue } from "./qemu_opts.ts";
import { checkPath, checkSocketPath } from "./_checks.ts";
import { checkFlag, optionalBoolean } from "./_validate.ts";
import { parseUser } from "./_platform_options.ts";
import { EMPTY_STATE } from "./_vm_state.ts";
import { holdState, profileOf, stateOf, withState } from "./_builder_state.ts";

/**
 * How QEMU's process runs; every method returns a new builder of the same class. Use
 * {@linkcode vm}, which makes a {@linkcode VmBuilder}.
 */
export class QemuProcessBuilder {
  /**
   * Use {@linkcode vm} or `VmBuilder.fromJSON`.
   *
   * @param profile The architecture profile.
   */
  constructor(profile: Readonly<ArchProfile>) {
    holdState(this, profile, EMPTY_STATE);
  }

  /** Extra QMP sockets QEMU listens on (see {@linkcode VmBuilder.qmpSocket}). */
  get qmpSockets(): readonly string[] {
    return stateOf(this).qmpSockets;
  }

  /** The QEMU binary this builder runs. */
  get binary(): string {
    return stateOf(this).binary ?? profileOf(this).binary;
  }

  /** Ignore QEMU's config files (`-no-user-config`); on by default in the fast profile. @returns A new builder. */
  noUserConfig(on = true): this {
    return withState(this, { noUserConfig: checkFlag("noUserConfig", on) });
  }

  /**
   * Names the guest (`-name`), and with `process: true` QEMU's process too, so `ps` and `top`
   * show it (Linux keeps the first 15 bytes).
   *
   * @param name The name.
   * @param options Whether to name the process.
   * @returns A new builder.
   */
  name(name: string, options: { process?: boolean } = {}): this {
    return withState(this, {
      name: parseName(name),
      processName: optionalBoolean("name process", options.process),
    });
  }

  /**
   * Makes QEMU write its process id to a file (`-pidfile`).
   *
   * @param path The file.
   * @returns A new builder.
   */
  pidFile(path: string): this {
    return withState(this, { pidFile: checkPath("pid file", path) });
  }

  /**
   * Writes everything the console (serial port 0) prints to a file as well, while `vm.console`
   * still reads it.
   *
   * @param path The log file (truncated at launch).
   * @returns A new builder.
   */
  consoleLog(path: string): this {
    return withState(this, { consoleLog: checkPath("console log", path) });
  }

  /**
   * Adds a QMP monitor that QEMU serves on a unix socket at `path`, for other tools: vmkit's
   * `recipes/qmp-shell.ts` and `qmp-events.ts`, QEMU's own `qmp-shell`, libvirt-style scripts.
   * Each monitor takes one client at a time; call it again for more. QEMU makes the socket when
   * it starts; it is removed when the VM is cleaned up. `vm.qmp` stays vmkit's own monitor.
   *
   * @param path Where QEMU listens; it must not exist when the VM launches.
   * @returns A new builder.
   * @throws {TypeError} When the path is empty, has newline or NUL, or was given already.
   * @throws {RangeError} When the path is longer than a unix socket path can be (107 bytes).
   *
   * @example
   * ```ts
   * import { vm } from "@vmkit/vmkit";
   * await using guest = await vm({ arch: "x86_64" }).qmpSocket("/tmp/vm1.qmp").launch();
   * // elsewhere: ./recipes/qmp-shell.ts /tmp/vm1.qmp
   * ```
   */
  qmpSocket(path: string): this {
    checkSocketPath("QMP socket", path);
    if (stateOf(this).qmpSockets.includes(path)) {
      throw new TypeError(`Cannot add QMP socket "${path}" twice`);
    }
    return withState(this, { qmpSockets: [...stateOf(this).qmpSockets, path] });
  }

  /** Uses another QEMU binary (a path or a name on PATH). @returns A new builder. */
  qemuBinary(binary: string): this {
    checkPath("qemu binary", binary);
    return withState(this, { binary });
  }

  /**
   * Appends raw arguments, after everything vmkit writes. Nothing is escaped or checked but
   * newline and NUL: this is the escape hatch.
   *
   * @param args QEMU arguments.
   * @returns A new builder.
   */
  arg(...args: string[]): this {
    for (const arg of args) checkValue("arg", arg);
    return withState(this, { extra: [...stateOf(this).extra, ...args] });
  }

  /**
   * Runs QEMU under its seccomp sandbox, denying obsolete system calls, privilege changes,
   * spawning processes and resource control (`-sandbox on,...=deny`). With
   * {@linkcode QemuProcessBuilder.runAs} QEMU may change user once, as it must.
   *
   * @returns A new builder.
   */
  sandbox(on = true): this {
    return withState(this, { sandbox: checkFlag("sandbox", on) });
  }

  /**
   * Writes QEMU's own log (`-D`; what `-d` enables, and some errors) to a file.
   *
   * @param path The log file.
   * @returns A new builder.
   */
  qemuLog(path: string): this {
    return withState(this, { qemuLog: checkPath("qemu log", path) });
  }

  /**
   * Keeps QEMU running, stopped, when the guest powers off (`-no-shutdown`), so its state can
   * still be inspected over QMP.
   *
   * @returns A new builder.
   */
  noShutdown(on = true): this {
    return withState(this, { noShutdown: checkFlag("noShutdown", on) });
  }

  /**
   * Runs QEMU as another user once it has opened its files and sockets (`-runas`), so a guest
   * that escapes QEMU is not root. Needs root to start.
   *
   * @param user A user name, such as `"nobody"`.
   * @returns A new builder.
   */
  runAs(user: string): this {
    return withState(this, { runAs: parseUser(user) });
  }
}

function parseName(name: string): string {
  escapeOptionValue("name", name);
  return name;
}
