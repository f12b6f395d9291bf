/**
 * Where named instances keep their state: `$XDG_STATE_HOME/vmkit/NAME`, else
 * `$HOME/.local/state/vmkit/NAME`, one private (0700) directory per instance holding QEMU's
 * sockets, pid file and logs, the instance's record and its disks.
 *
 * @module
 */

import { envVar } from "../_env.ts";
import { MAX_SOCKET_PATH_BYTES } from "../vm/_checks.ts";

/** Options naming where instances live. */
export interface InstanceDirOptions {
  /**
   * The directory that holds one directory per instance, instead of `$XDG_STATE_HOME/vmkit`
   * (else `$HOME/.local/state/vmkit`). Tests and scripts pass a directory of their own.
   */
  stateBase?: string;
}

/** The longest socket an instance's directory holds; names are checked against it. */
const LONGEST_SOCKET = "console.sock";
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const encoder = new TextEncoder();

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/**
 * The directory that holds the instances: `stateBase` when given, else `$XDG_STATE_HOME/vmkit`
 * (an absolute `XDG_STATE_HOME` only, as the XDG spec says), else `$HOME/.local/state/vmkit`.
 * Environment variables are read only when Deno may.
 *
 * @param options `stateBase`.
 * @returns An absolute path; it may not exist yet.
 * @throws {Error} When no option is given and neither variable is set (or readable).
 *
 * @example
 * ```ts
 * import { instanceStateBase } from "@vmkit/vmkit";
 * console.log(instanceStateBase({ stateBase: "/tmp/vmkit-state" })); // /tmp/vmkit-state
 * ```
 */
export function instanceStateBase(options: InstanceDirOptions = {}): string {
  if (options.stateBase !== undefined) {
    if (typeof options.stateBase !== "string" || options.stateBase === "") {
      throw new TypeError(
        `Cannot use state base ${JSON.stringify(options.stateBase)}: give a directory path`,
      );
    }
    return absolute(options.stateBase).replace(/\/+$/, "") || "/";
  }
  const xdg = envVar("XDG_STATE_HOME");
  if (xdg !== undefined && xdg.startsWith("/")) return `${xdg.replace(/\/+$/, "")}/vmkit`;
  const home = envVar("HOME");
  if (home !== undefined && home.startsWith("/")) {
    return `${home.replace(/\/+$/, "")}/.local/state/vmkit`;
  }
  throw new Error(
    "Cannot find where instances live: neither XDG_STATE_HOME nor HOME is set to an absolute path (or Deno may not read them: grant --allow-env=XDG_STATE_HOME,HOME); set one, or pass stateBase",
  );
}

/**
 * Checks an instance name: letters, digits, `-`, `_` and `.`, not starting with `.` or `-`,
 * and short enough that the instance's console socket (`BASE/NAME/console.sock`) fits in a unix
 * socket path (107 bytes).
 *
 * @param name The name.
 * @param options Where instances live (the length limit depends on it).
 * @returns The name.
 * @throws {TypeError} When the name has other characters, or starts with `.` or `-`.
 * @throws {RangeError} When it is too long for this state directory; the message says how long
 *   it may be.
 *
 * @example
 * ```ts
 * import { checkInstanceName } from "@vmkit/vmkit";
 * checkInstanceName("web-1", { stateBase: "/tmp/vmkit-state" });
 * ```
 */
export function checkInstanceName(name: string, options: InstanceDirOptions = {}): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Cannot use instance name ${
        JSON.stringify(name)
      }: use letters, digits, "-", "_" and ".", not starting with "." or "-"`,
    );
  }
  const base = instanceStateBase(options);
  const socket = `${base}/${name}/${LONGEST_SOCKET}`;
  const bytes = encoder.encode(socket).length;
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    const room = MAX_SOCKET_PATH_BYTES - encoder.encode(`${base}//${LONGEST_SOCKET}`).length;
    const advice = room > 0
      ? `use a name of at most ${room} characters here, or`
      : "no name fits here;";
    throw new RangeError(
      `Cannot use instance name "${name}": its console socket "${socket}" would be ${bytes} bytes, and a unix socket path holds at most ${MAX_SOCKET_PATH_BYTES}; ${advice} keep instances in a shorter directory (set XDG_STATE_HOME, or pass stateBase)`,
    );
  }
  return name;
}

/**
 * The state directory of one instance: `BASE/NAME`, after checking the name.
 *
 * @param name The instance's name.
 * @param options Where instances live.
 * @returns The absolute path; it exists once the instance was started.
 * @throws {TypeError} For a bad name (see {@linkcode checkInstanceName}).
 * @throws {RangeError} For a name too long for its sockets.
 *
 * @example
 * ```ts
 * import { instanceDir } from "@vmkit/vmkit";
 * console.log(instanceDir("web", { stateBase: "/tmp/vmkit-state" })); // /tmp/vmkit-state/web
 * ```
 */
export function instanceDir(name: string, options: InstanceDirOptions = {}): string {
  checkInstanceName(name, options);
  return `${instanceStateBase(options)}/${name}`;
}
