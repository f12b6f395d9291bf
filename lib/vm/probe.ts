/**
 * A throwaway QEMU with no machine (`-machine none`), for asking the installed QEMU what it
 * supports: its QAPI schema, machine types, devices and CPU models.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { ARCH_PROFILES, archProfile } from "./arch.ts";
import { spawnQemu } from "./_spawn.ts";

/** A QEMU started by {@linkcode probeQemu}. Dispose of it to stop it. */
export interface QemuProbe extends AsyncDisposable {
  /** Its QMP client. */
  readonly qmp: QmpClient;
  /** The binary that runs. */
  readonly binary: string;
  /** Stops QEMU and removes its directory. */
  close(): Promise<void>;
}

/** Options of {@linkcode probeQemu}. */
export interface ProbeOptions extends WaitOptions {
  /** Where to make the private socket directory. Default `/tmp`. */
  runtimeDirBase?: string;
}

function debianPackageOf(binary: string): string {
  const base = binary.slice(binary.lastIndexOf("/") + 1);
  const profile = Object.values(ARCH_PROFILES).find((p) => p.binary === base);
  return profile?.debianPackage ?? archProfile("x86_64").debianPackage;
}

/**
 * Starts `binary -machine none` with a QMP monitor and nothing else; it starts in a few tens of
 * milliseconds and runs no guest.
 *
 * @param binary A QEMU system emulator, such as `"qemu-system-x86_64"`.
 * @param options Time limit (default 10 s), signal, socket directory base.
 * @returns The running QEMU and its QMP client.
 * @throws {Deno.errors.NotFound} When the binary is not installed (the message names the
 *   Debian package).
 * @throws {VmLaunchError} When QEMU exits or does not connect in time.
 *
 * @example Ask QEMU for its machine types
 * ```ts
 * import { probeQemu } from "@vmkit/vmkit";
 * await using probe = await probeQemu("qemu-system-x86_64");
 * console.log(await probe.qmp.execute("query-machines"));
 * ```
 */
export async function probeQemu(binary: string, options: ProbeOptions = {}): Promise<QemuProbe> {
  checkTimeout("probe QEMU", options.timeout);
  if (typeof binary !== "string" || binary === "") {
    throw new TypeError(`Cannot probe QEMU binary ${JSON.stringify(binary)}: the name is empty`);
  }
  const runtimeDir = await Deno.makeTempDir({
    dir: options.runtimeDirBase ?? "/tmp",
    prefix: "vmkit-probe-",
  });
  const spawned = await spawnQemu({
    binary,
    args: [
      "-machine",
      "none",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-chardev",
      `socket,id=vmkit-qmp,path=${runtimeDir.replaceAll(",", ",,")}/qmp.sock`,
      "-mon",
      "chardev=vmkit-qmp,mode=control",
    ],
    runtimeDir,
    sockets: ["qmp.sock"],
    debianPackage: debianPackageOf(binary),
    action: `probe QEMU "${binary}"`,
    permissionHint: "probing QEMU listens on a unix socket in a new directory under /tmp",
    timeout: options.timeout ?? 10_000,
    signal: options.signal,
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await spawned.qmp.execute("quit", undefined, { timeout: 2000 }).catch(() => {});
      const timer = setTimeout(() => spawned.process.kill("SIGKILL"), 2000);
      await spawned.exited;
      clearTimeout(timer);
      await spawned.qmp.close();
      await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
      spawned.release();
    })();
    return closing;
  };
  return { qmp: spawned.qmp, binary, close, [Symbol.asyncDispose]: close };
}
