/**
 * Running one foreign binary without root and without binfmt_misc: start the matching
 * `qemu-<target>` with the binary as its argument.
 *
 * @module
 */

import { readHead } from "./_read_head.ts";
import { elfTarget, parseElfHeader } from "./elf.ts";
import type { QemuTargetName } from "./targets.ts";

/** Options of {@linkcode runForeign}. */
export interface RunForeignOptions {
  /** Root of the target's libraries for a dynamically linked binary (QEMU's `-L`). */
  sysroot?: string;
  /** Environment variables for the program. */
  env?: Record<string, string>;
  /** Start from an empty environment. Default `false`. */
  clearEnv?: boolean;
  /** Working directory. */
  cwd?: string;
  /** Kills the program when aborted. */
  signal?: AbortSignal;
  /** As in `Deno.Command`. Default `"inherit"`. */
  stdin?: "piped" | "inherit" | "null";
  /** As in `Deno.Command`. Default `"inherit"`. */
  stdout?: "piped" | "inherit" | "null";
  /** As in `Deno.Command`. Default `"inherit"`. */
  stderr?: "piped" | "inherit" | "null";
  /** The emulator to use, skipping the search. */
  emulator?: string;
  /**
   * Directories searched for `qemu-<target>` before `PATH`, such as the cache of
   * `emulators.fetch`.
   */
  emulatorDirs?: string[];
}

/** A running foreign program: a `Deno.ChildProcess`, plus what runs it. */
export type ForeignProcess = Deno.ChildProcess & {
  /** The binary's QEMU target. */
  readonly target: QemuTargetName;
  /** The emulator that runs it. */
  readonly emulator: string;
  /** The emulator's arguments. */
  readonly args: readonly string[];
};

/**
 * Runs a binary of another architecture with QEMU user-mode emulation: reads its ELF header,
 * picks `qemu-<target>` (from `emulator`, `emulatorDirs`, then `qemu-<target>-static` and
 * `qemu-<target>` on `PATH`), and spawns it. Needs no root and no binfmt_misc entry.
 *
 * @param path The binary.
 * @param args Its arguments.
 * @param options Sysroot, environment, stdio, cancellation, where emulators are.
 * @returns The running process, used like `Deno.Command(...).spawn()`'s.
 * @throws {Deno.errors.NotFound} When the binary does not exist, or no emulator for its
 *   target is installed (the message names the Debian package and vmkit's downloader).
 * @throws {TypeError} When the file is not an ELF binary of a known QEMU target.
 *
 * @example
 * ```ts
 * import { runForeign } from "@vmkit/vmkit";
 * const child = await runForeign("./busybox-arm64", ["uname", "-m"], { stdout: "piped" });
 * const { code, stdout } = await child.output();
 * console.log(code, new TextDecoder().decode(stdout)); // 0 "aarch64\n"
 * ```
 */
export async function runForeign(
  path: string,
  args: readonly string[] = [],
  options: RunForeignOptions = {},
): Promise<ForeignProcess> {
  let head: Uint8Array;
  try {
    head = await readHead(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot run ${path}: the file does not exist`, {
        cause: error,
      });
    }
    throw error;
  }
  let machine: number;
  try {
    machine = parseElfHeader(head).machine;
  } catch (error) {
    throw new TypeError(`Cannot run ${path}: it is not an ELF binary`, { cause: error });
  }
  const target = elfTarget(head);
  if (target === undefined) {
    throw new TypeError(
      `Cannot run ${path}: no QEMU user-mode target matches its ELF header (machine 0x${
        machine.toString(16)
      }, ${head[4] === 2 ? 64 : 32}-bit, ${head[5] === 2 ? "big" : "little"}-endian)`,
    );
  }
  const candidates = options.emulator !== undefined ? [options.emulator] : [
    ...(options.emulatorDirs ?? []).map((dir) => `${dir.replace(/\/+$/, "")}/${target.emulator}`),
    `${target.emulator}-static`,
    target.emulator,
  ];
  const qemuArgs = [
    ...(options.sysroot === undefined ? [] : ["-L", options.sysroot]),
    path,
    ...args,
  ];
  const refused: string[] = [];
  for (const emulator of candidates) {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(emulator, {
        args: qemuArgs,
        env: options.env,
        clearEnv: options.clearEnv,
        cwd: options.cwd,
        signal: options.signal,
        stdin: options.stdin ?? "inherit",
        stdout: options.stdout ?? "inherit",
        stderr: options.stderr ?? "inherit",
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      if (error instanceof Deno.errors.NotCapable) {
        refused.push(emulator);
        continue;
      }
      throw error;
    }
    return Object.assign(child, { target: target.name, emulator, args: qemuArgs });
  }
  const denied = refused.length === 0
    ? ""
    : `; Deno was not allowed to run ${refused.join(", ")} (grant --allow-run for it)`;
  throw new Deno.errors.NotFound(
    `Cannot run ${path}: no emulator for ${target.name} is installed (tried ${
      candidates.join(", ")
    }${denied}). Install Debian's qemu-user-static (apt-get install qemu-user-static) or download one with vmkit's emulators.fetch("${target.name}") and pass its directory as emulatorDirs`,
  );
}
