/**
 * Running a program in the guest through the agent: `guest-exec`, then `guest-exec-status`
 * polled fast at first and slower as the program runs on.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { decodeBase64, encodeBase64 } from "../_base64.ts";
import { linuxSignalName } from "../_signals.ts";
import type { GuestAgent } from "./client.ts";
import { GuestAgentTimeoutError } from "./errors.ts";
import { sleep } from "../_sleep.ts";

/** Options of {@linkcode GuestAgent.exec}. */
export interface AgentExecOptions extends WaitOptions {
  /** What the program reads on its standard input (then end of file). */
  stdin?: string | Uint8Array;
  /**
   * The program's whole environment (the agent passes only these variables), such as
   * `{ PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }`. Default: the agent's own environment.
   */
  env?: Record<string, string>;
  /**
   * What to capture: `"separate"` (default) stdout and stderr apart; `"merged"` both into
   * `stdout`, in order (the guest's agent must be 8.1 or later); `"none"` nothing.
   */
  output?: "separate" | "merged" | "none";
}

/** How a program run by {@linkcode GuestAgent.exec} ended. */
export interface AgentExecResult {
  /** Its exit code, or `null` when a signal killed it. */
  exitCode: number | null;
  /** The signal that killed it, such as `"SIGKILL"`, or `null` when it exited. */
  signal: string | null;
  /** Its standard output (with `output: "merged"`, its standard error too), as UTF-8 text. */
  stdout: string;
  /** Its standard error. */
  stderr: string;
  /** Whether the agent cut the output short (it keeps at most 16 MiB of each). */
  truncated: boolean;
  /** The program's process id in the guest. */
  pid: number;
}

/**
 * The name of the Linux signal that killed a program, as {@linkcode AgentExecResult.signal}
 * gives it.
 *
 * @param n The signal number (`guest-exec-status`'s `signal`).
 * @returns `"SIGKILL"` for 9, `"SIGRTMIN+3"` for a real-time one, `"signal 70"` for a number
 *   that names no signal.
 *
 * @example
 * ```ts
 * import { signalName } from "@vmkit/vmkit";
 * console.log(signalName(9)); // "SIGKILL"
 * ```
 */
export function signalName(n: number): string {
  return linuxSignalName(n);
}

/** Waits between status polls: fast while short programs finish, then at most 100 ms. */
const POLL_MS = [0, 1, 2, 4, 8, 16, 32, 64];
const POLL_MAX_MS = 100;

const decoder = new TextDecoder();

function checkArgv(argv: unknown): string[] {
  const list = typeof argv === "string" ? ["/bin/sh", "-c", argv] : argv;
  if (
    !Array.isArray(list) || list.length === 0 || (typeof argv === "string" && argv.trim() === "") ||
    list.some((arg) => typeof arg !== "string" || arg.includes("\0"))
  ) {
    throw new TypeError(
      `Cannot run ${
        JSON.stringify(argv)
      } in the guest: give a command line (run by /bin/sh -c) or a non-empty array of strings without NUL`,
    );
  }
  if (list[0] === "") throw new TypeError("Cannot run a program with an empty name in the guest");
  return list;
}

function checkEnv(env: unknown): string[] | undefined {
  if (env === undefined) return undefined;
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new TypeError(
      `Cannot run a program in the guest with env ${
        JSON.stringify(env)
      }: give an object of variable names to string values`,
    );
  }
  return Object.entries(env).map(([name, value]) => {
    if (
      !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof value !== "string" || value.includes("\0")
    ) {
      throw new TypeError(
        `Cannot run a program in the guest with env variable ${JSON.stringify(name)}=${
          JSON.stringify(value)
        }: use a name of letters, digits and "_" and a string value without NUL`,
      );
    }
    return `${name}=${value}`;
  });
}

/**
 * Runs a program in the guest and waits for it (`GuestAgent.exec`).
 *
 * @param agent The agent.
 * @param argv The program and its arguments (looked up in the agent's `PATH`), or a command
 *   line for `/bin/sh -c`.
 * @param options Input, environment, output capture, time limit, signal.
 * @returns Exit code or signal, and output.
 */
export async function execInGuest(
  agent: GuestAgent,
  argv: string | readonly string[],
  options: AgentExecOptions = {},
): Promise<AgentExecResult> {
  const list = checkArgv(argv);
  const env = checkEnv(options.env);
  checkTimeout(`run ${JSON.stringify(list[0])} in the guest`, options.timeout);
  const output = options.output ?? "separate";
  if (!["separate", "merged", "none"].includes(output)) {
    throw new TypeError(
      `Cannot run a program in the guest with output ${
        JSON.stringify(output)
      }: use "separate", "merged" or "none"`,
    );
  }
  if (output === "merged") await checkMergedOutput(agent, options);
  const deadline = options.timeout === undefined ? Infinity : performance.now() + options.timeout;
  const left = (): number | undefined =>
    deadline === Infinity ? undefined : Math.max(0, deadline - performance.now());
  const stdin = typeof options.stdin === "string"
    ? new TextEncoder().encode(options.stdin)
    : options.stdin;
  const args: Record<string, unknown> = { path: list[0], arg: list.slice(1) };
  if (env !== undefined) args.env = env;
  if (stdin !== undefined) args["input-data"] = encodeBase64(stdin);
  if (output !== "none") args["capture-output"] = output === "merged" ? "merged" : true;
  const { pid } = await agent.execute("guest-exec", args as never, {
    timeout: left(),
    signal: options.signal,
  }) as { pid: number };
  for (let poll = 0;; poll++) {
    const status = await agent.execute("guest-exec-status", { pid }, {
      timeout: left(),
      signal: options.signal,
    }).catch(async (error) => {
      if (error instanceof GuestAgentTimeoutError || options.signal?.aborted) {
        await killInGuest(agent, pid);
      }
      const out = left();
      if (error instanceof GuestAgentTimeoutError && out !== undefined && out <= 0) {
        // The caller's limit ran out while a status was asked: the program ran too long.
        throw new GuestAgentTimeoutError(
          `${JSON.stringify(list[0])} (pid ${pid}) to exit in the guest`,
          options.timeout!,
          "it was killed",
          { cause: error },
        );
      }
      throw error;
    });
    if (status.exited) {
      return {
        exitCode: status.signal === undefined ? status.exitcode ?? 0 : null,
        signal: status.signal === undefined ? null : signalName(status.signal),
        stdout: decode(status["out-data"]),
        stderr: decode(status["err-data"]),
        truncated: status["out-truncated"] === true || status["err-truncated"] === true,
        pid,
      };
    }
    const wait = POLL_MS[poll] ?? POLL_MAX_MS;
    const remaining = left();
    if (remaining !== undefined && remaining <= 0) {
      await killInGuest(agent, pid);
      throw new GuestAgentTimeoutError(
        `${JSON.stringify(list[0])} (pid ${pid}) to exit in the guest`,
        options.timeout!,
        "it was killed",
      );
    }
    await sleep(Math.min(wait, remaining ?? wait), options.signal).catch(async (error) => {
      await killInGuest(agent, pid);
      throw error;
    });
  }
}

function decode(base64: string | undefined): string {
  return base64 === undefined ? "" : decoder.decode(decodeBase64(base64));
}

/**
 * Kills a program that outlived its caller's patience, and waits (up to 3 s) until the kill ran
 * and the agent reaped the program, so it is gone when the caller hears of the timeout; best
 * effort.
 */
async function killInGuest(agent: GuestAgent, pid: number): Promise<void> {
  try {
    const { pid: killer } = await agent.execute("guest-exec", {
      path: "/bin/sh",
      arg: ["-c", `kill -KILL ${pid}`],
    }, { timeout: 2000 });
    const until = performance.now() + 3000;
    for (const process of [killer, pid]) {
      while (performance.now() < until) {
        const status = await agent.execute("guest-exec-status", { pid: process }, {
          timeout: 2000,
        });
        if (status.exited) break;
        await sleep(10);
      }
    }
  } catch {
    // The VM may be gone, or the program ended on its own: nothing more can be done.
  }
}

/** Merged output came with qemu-ga 8.1; the guest's agent may be older than the host's QEMU. */
async function checkMergedOutput(agent: GuestAgent, options: WaitOptions): Promise<void> {
  const { version } = await agent.execute("guest-info", undefined, options);
  const [major, minor] = version.split(".").map(Number);
  if (major < 8 || (major === 8 && minor < 1)) {
    throw new RangeError(
      `Cannot run a program in the guest with output "merged": the guest's agent is ${version}, and merged output needs qemu-ga 8.1 or later; use "separate"`,
    );
  }
}
