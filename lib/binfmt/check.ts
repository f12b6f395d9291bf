/**
 * Proving that foreign binaries run: execute a binary of a target through the kernel and see
 * it exit as expected.
 *
 * @module
 */

import { checkTimeout } from "../_deadline.ts";
import { magicMatches } from "./elf.ts";
import { list } from "./kernel.ts";
import type { MountOptions } from "./mount.ts";
import { PROBE_EXIT_CODE, probeElf } from "./probe_elf.ts";
import { foreignTargets, qemuTarget, type QemuTargetName } from "./targets.ts";
import { readHead } from "./_read_head.ts";

/** How a target fared. */
export type CheckState =
  /** A binary of the target ran and exited as expected. */
  | "working"
  /** An entry matches but the binary did not run or exited otherwise. */
  | "broken"
  /** No enabled entry matches the target's binaries. */
  | "unregistered"
  /** vmkit has no probe binary for the target and none was given. */
  | "untested";

/** The result of checking one target. */
export interface CheckResult {
  /** The target. */
  target: QemuTargetName;
  /** How it fared. */
  state: CheckState;
  /** The enabled entry that matches the binary, if any. */
  entry?: string;
  /** That entry's interpreter. */
  interpreter?: string;
  /** The binary's exit code, when it ran. */
  exitCode?: number;
  /** What went wrong, when it is not working. */
  error?: string;
}

/** Options of {@linkcode check}. */
export interface CheckOptions extends MountOptions {
  /**
   * A binary of the target to run instead of vmkit's built-in probe (needed for targets without
   * one, see {@linkcode PROBE_TARGETS}).
   */
  binary?: string;
  /** Arguments for `binary`. Default none. */
  args?: string[];
  /** Exit code that means success for `binary`. Default 0 (42 for the built-in probe). */
  expectExitCode?: number;
  /** Milliseconds the binary may run. Default 10 000. */
  timeout?: number;
  /** Cancels the check. */
  signal?: AbortSignal;
}

/**
 * Checks one target: finds the enabled entry that matches its binaries, runs a binary of the
 * target (vmkit's probe, a tiny static program that exits with 42, or `binary`) as a normal
 * program so the kernel goes through binfmt_misc, and reports how it went. It never throws for
 * a target that does not work: that is the result.
 *
 * @param target The target, e.g. `"aarch64"`.
 * @param options A binary to run, time limit, mount point.
 * @returns The result.
 * @throws {RangeError} When the target is unknown.
 * @throws {Deno.errors.NotFound} When `binary` does not exist.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * console.log(await binfmt.check("aarch64"));
 * // { target: "aarch64", state: "working", entry: "qemu-aarch64", interpreter: "/usr/bin/...", exitCode: 42 }
 * ```
 */
export async function check(target: string, options: CheckOptions = {}): Promise<CheckResult> {
  const name = qemuTarget(target).name;
  let dir: string | undefined;
  try {
    let path = options.binary;
    let expected = options.expectExitCode ?? 0;
    if (path === undefined) {
      const probe = probeElf(name);
      if (probe === undefined) {
        return {
          target: name,
          state: "untested",
          error: `vmkit has no probe binary for ${name}: pass { binary } with a ${name} program`,
        };
      }
      dir = await Deno.makeTempDir({ prefix: "vmkit-binfmt-check-" });
      path = `${dir}/probe-${name}`;
      await Deno.writeFile(path, probe, { mode: 0o755 });
      await Deno.chmod(path, 0o755);
      expected = PROBE_EXIT_CODE;
    }
    let head: Uint8Array;
    try {
      head = await readHead(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Deno.errors.NotFound(`Cannot check ${name}: binary ${path} does not exist`, {
        cause: error,
      });
    }
    const match = (await list(options)).find((e) =>
      e.enabled && e.type === "M" && magicMatches(head, e.magic, e.mask, e.offset)
    );
    if (match === undefined) {
      return {
        target: name,
        state: "unregistered",
        error: `no enabled binfmt_misc entry matches ${name} binaries`,
      };
    }
    const found = { target: name, entry: match.name, interpreter: match.interpreter };
    checkTimeout(`check ${name}`, options.timeout);
    const timeout = AbortSignal.timeout(options.timeout ?? 10_000);
    const signal = options.signal === undefined
      ? timeout
      : AbortSignal.any([options.signal, timeout]);
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(path, {
        args: options.args ?? [],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        signal,
      }).output();
    } catch (error) {
      return {
        ...found,
        state: "broken",
        error: `${path} did not run: ${(error as Error).message}`,
      };
    }
    options.signal?.throwIfAborted();
    if (output.code === expected && output.signal === null) {
      return { ...found, state: "working", exitCode: output.code };
    }
    const stderr = new TextDecoder().decode(output.stderr).trim().slice(0, 500);
    const how = timeout.aborted
      ? `did not finish within ${options.timeout ?? 10_000} ms`
      : `exited with ${output.signal === null ? `code ${output.code}` : `signal ${output.signal}`}`;
    return {
      ...found,
      state: "broken",
      exitCode: output.code,
      error: `${path} ${how}, expected exit code ${expected}${stderr === "" ? "" : `: ${stderr}`}`,
    };
  } finally {
    if (dir !== undefined) await Deno.remove(dir, { recursive: true });
  }
}

/** Options of {@linkcode checkAll}. */
export interface CheckAllOptions extends MountOptions {
  /** Targets to check. Default: every foreign target of the host that has a probe. */
  targets?: string[];
  /** `uname -m` of the host, for the default target list. Default `Deno.build.arch`. */
  machine?: string;
  /** Milliseconds each binary may run. Default 10 000. */
  timeout?: number;
  /** Cancels the checks. */
  signal?: AbortSignal;
}

/** What {@linkcode checkAll} found, ready for `JSON.stringify`. */
export interface CheckReport {
  /** Targets whose binaries ran. */
  working: QemuTargetName[];
  /** Entries that matched the checked targets, working or not. */
  emulators: string[];
  /** One result per target. */
  results: CheckResult[];
}

/**
 * Checks several targets (by default every foreign target vmkit has a probe for) and reports
 * which are registered and working, like tonistiigi/binfmt's status output.
 *
 * @param options Targets, host machine, time limit.
 * @returns The report.
 * @throws {RangeError} When a target is unknown.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * console.log(JSON.stringify(await binfmt.checkAll(), null, 2));
 * ```
 */
export async function checkAll(options: CheckAllOptions = {}): Promise<CheckReport> {
  const targets = options.targets ??
    foreignTargets(options.machine ?? Deno.build.arch).map((t) => t.name).filter((t) =>
      probeElf(t) !== undefined
    );
  const results: CheckResult[] = [];
  for (const target of targets) {
    results.push(
      await check(target, {
        mountPoint: options.mountPoint,
        timeout: options.timeout,
        signal: options.signal,
      }),
    );
  }
  return {
    working: results.filter((r) => r.state === "working").map((r) => r.target),
    emulators: [...new Set(results.flatMap((r) => r.entry === undefined ? [] : [r.entry]))],
    results,
  };
}
