/**
 * Readiness: stages of a booting guest, each followed as events and each with its own time
 * limit, all failing at once with the reason when QEMU exits or the guest panics.
 *
 * @module
 */

import { checkTimeout, settledWithin, type WaitOptions } from "../_deadline.ts";
import { sleep } from "../_sleep.ts";
import type { GuestAgent } from "../agent/client.ts";
import { AGENT_PORT_NOT_OPEN } from "../agent/_port_not_open.ts";
import { GuestAgentError } from "../agent/errors.ts";
import type { Console } from "./console.ts";
import { ConsoleClosedError } from "./console_errors.ts";
import { GUEST_READY_LINE } from "../guest/default_init.ts";
import { VmSsh } from "./vm_ssh.ts";

/** A stage by name. */
export type ReadyStageName = "qemu" | "console" | "agent" | "ssh" | "cloud-init";

/**
 * A stage of {@linkcode Vm.ready}:
 * - `"qemu"`: QEMU is up (it is, once `launch()` resolved);
 * - `"console"`: the console showed the tiny guest's ready line or a login prompt; or
 *   `{ console: /pattern/ }` for a line of your own;
 * - `"agent"`: the guest agent answers (`.guestAgent()`);
 * - `"ssh"`: a login over ssh works (`.ssh()`);
 * - `"cloud-init"`: cloud-init has finished. Through the agent when the VM has one: its last
 *   stage's `/run/cloud-init/result.json` is read every 100 ms (a guest where cloud-init's
 *   generator marked it disabled is ready at once; one with no mark at all is asked
 *   `cloud-init status --wait`); else `cloud-init status --wait` over ssh. cloud-init's errors
 *   fail the stage and are named; recoverable ones (a deprecated key: status "degraded", exit 2
 *   from cloud-init 23.4 on) do not, as cloud-init's docs advise;
 * - `{ probe, name }`: your own check, called until it returns something other than `false`
 *   (thrown errors are retried too), fast at first and at most every second.
 *
 * Each may be `{ stage: "agent", timeout: 60_000 }` for a time limit of its own.
 */
export type ReadyStage =
  | ReadyStageName
  | { stage: ReadyStageName; timeout?: number }
  | { console: string | RegExp; name?: string; timeout?: number }
  | {
    probe: (signal: AbortSignal) => Promise<unknown> | unknown;
    name: string;
    timeout?: number;
  };

/** Options of {@linkcode Vm.ready}. */
export interface ReadyOptions extends WaitOptions {
  /**
   * The stages. Default `["qemu"]`, plus `"agent"` when the VM has a guest agent and `"ssh"`
   * when it has `.ssh()`.
   */
  stages?: readonly ReadyStage[];
}

/** When each stage was reached. */
export interface ReadyResult {
  /** The stages in the order given, with ms since launch. */
  stages: { name: string; ms: number }[];
}

/** A stage was not reached: which, why, and what the console showed last. */
export class VmReadyError extends Error {
  /** Always `"VmReadyError"`. */
  override readonly name = "VmReadyError";
  /** The stage's name. */
  readonly stage: string;
  /** Why: a timeout, a failed check, or the guest's end (QEMU exited, a panic). */
  readonly reason: string;
  /** The console's last lines. */
  readonly consoleTail: string;

  /**
   * Makes the error.
   *
   * @param stage The stage.
   * @param reason Why.
   * @param consoleTail The console's last lines.
   * @param options The cause.
   */
  constructor(
    stage: string,
    reason: string,
    consoleTail: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `Cannot get the VM ready: stage "${stage}" was not reached: ${reason}${
        consoleTail ? `\nThe console's last lines:\n${consoleTail}` : ""
      }`,
      options,
    );
    this.stage = stage;
    this.reason = reason;
    this.consoleTail = consoleTail;
  }
}

/** What readiness needs of a VM. */
export interface ReadyContext {
  /** The console, for console stages and the tail of a failure. */
  console: Console;
  /** The guest agent, when the VM has one. */
  agent?: GuestAgent;
  /** SSH, when the VM has it. */
  ssh?: VmSsh;
  /** Resolves with the reason once the guest can do nothing more. */
  failure: Promise<string>;
  /** When QEMU started (`performance.now()`), for the stages' times. */
  launchedAt: number;
  /** What on the command line would keep the console silent, for a silent timeout's note. */
  silentCause?: string;
}

const DEFAULT_STAGE_TIMEOUT = 120_000;
/** A login prompt (getty) or the tiny guest's ready line. */
const CONSOLE_READY = new RegExp(`${GUEST_READY_LINE}| login: `);

interface Plan {
  name: string;
  timeout: number;
  run: (signal: AbortSignal) => Promise<void>;
  /** What is known of why the stage is late, for its timeout's message. */
  late?: () => string;
}

function agentLate(agent: GuestAgent): () => string {
  return () => agent.portOpen === false ? AGENT_PORT_NOT_OPEN : "the guest agent did not answer";
}

function consoleTail(console: Console): string {
  return console.transcript.slice(-1500).split("\n").slice(-15).join("\n").trimEnd();
}

/**
 * A timeout's note on a console that printed nothing for the whole wait (or for 10 s, on a
 * longer one): a guest that stopped printing long ago is more likely hung, say a kernel stuck
 * early in its boot, than slow.
 */
function silence(console: Console, timeout: number, cause: string | undefined): string {
  const ms = console.silentMs;
  if (ms < Math.min(timeout, 10_000)) return "";
  const took = ms < 10_000 ? `${Math.floor(ms)} ms` : `${Math.floor(ms / 1000)} s`;
  return `${
    console.transcript === ""
      ? `; the console has printed nothing since it opened ${took} ago`
      : `; the console has printed nothing for the last ${took}`
  }${cause === undefined ? "" : `, and ${cause}`}`;
}

function describe(stage: unknown): string {
  return typeof stage === "string" ? JSON.stringify(stage) : JSON.stringify(stage) ?? String(stage);
}

function planStage(ctx: ReadyContext, stage: ReadyStage, fallback: number): Plan {
  const bad = (why: string) =>
    new TypeError(`Cannot wait for readiness stage ${describe(stage)}: ${why}`);
  const own = typeof stage === "object" && stage !== null ? stage.timeout : undefined;
  checkTimeout(`wait for readiness stage ${describe(stage)}`, own);
  const timeout = own ?? fallback;
  if (typeof stage === "object" && stage !== null && "probe" in stage) {
    if (typeof stage.probe !== "function" || typeof stage.name !== "string" || !stage.name) {
      throw bad("a probe needs a function `probe` and a `name`");
    }
    const last: { error?: unknown } = {};
    return {
      name: stage.name,
      timeout,
      run: (signal) => probeUntil(stage.probe, signal, last),
      late: () =>
        last.error === undefined
          ? "the probe never returned anything but false"
          : `the probe's last error: ${
            last.error instanceof Error ? last.error.message : String(last.error)
          }`,
    };
  }
  if (typeof stage === "object" && stage !== null && "console" in stage) {
    const pattern = stage.console;
    if (typeof pattern !== "string" && !(pattern instanceof RegExp)) {
      throw bad("`console` is a string or a regular expression");
    }
    return {
      name: stage.name ?? `console ${String(pattern)}`,
      timeout,
      run: async (signal) => void await ctx.console.seen(pattern, { signal }),
    };
  }
  const name = typeof stage === "object" && stage !== null ? stage.stage : stage;
  switch (name) {
    case "qemu":
      return { name, timeout, run: () => Promise.resolve() };
    case "console":
      return {
        name,
        timeout,
        run: async (signal) => void await ctx.console.seen(CONSOLE_READY, { signal }),
      };
    case "agent": {
      const agent = needAgent(ctx, name);
      return {
        name,
        timeout,
        run: (signal) => agent.ready({ signal, timeout: 2 ** 31 - 1 }),
        late: agentLate(agent),
      };
    }
    case "ssh": {
      const ssh = ctx.ssh;
      if (ssh === undefined) {
        throw new TypeError(
          'Cannot wait for readiness stage "ssh": the VM has no ssh; build it with .ssh()',
        );
      }
      return { name, timeout, run: (signal) => ssh.ready({ signal }), late: () => ssh.lateReason };
    }
    case "cloud-init": {
      if (ctx.agent === undefined && ctx.ssh !== undefined) {
        const ssh = ctx.ssh;
        return { name, timeout, run: (signal) => cloudInitDone(ssh, signal) };
      }
      if (ctx.agent === undefined) {
        throw new TypeError(
          `Cannot wait for readiness stage "${name}": it asks the guest through its agent or over ssh, and the VM has neither; build it with .guestAgent() or .ssh()`,
        );
      }
      const agent = ctx.agent;
      return {
        name,
        timeout,
        run: (signal) => cloudInitDone(agent, signal),
        late: agentLate(agent),
      };
    }
    default:
      throw bad(
        'use "qemu", "console", "agent", "ssh", "cloud-init", { stage, timeout }, { console: /pattern/ } or { probe, name }',
      );
  }
}

function needAgent(ctx: ReadyContext, stage: string): GuestAgent {
  if (ctx.agent === undefined) {
    throw new TypeError(
      `Cannot wait for readiness stage "${stage}": it asks the guest agent, and the VM has none; build it with .guestAgent()`,
    );
  }
  return ctx.agent;
}

async function cloudInitDone(via: GuestAgent | VmSsh, signal: AbortSignal): Promise<void> {
  if (via instanceof VmSsh) {
    await via.ready({ signal });
    return await cloudInitStatus(via, signal);
  }
  await via.ready({ signal, timeout: 2 ** 31 - 1 });
  const read = (name: string) =>
    via.readTextFile(`${CLOUD_INIT_RUN}/${name}`, { signal }).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
  // cloud-init's systemd generator marks it enabled or disabled before any unit starts, so
  // before the agent can answer. Without either mark (no cloud-init, no systemd), ask it.
  if (await read("enabled") === undefined && await read(RESULT) === undefined) {
    if (await read("disabled") !== undefined) return; // `cloud-init status` says "disabled"
    return await cloudInitStatus(via, signal);
  }
  // Its last stage writes the result: reading that from the agent costs the guest nothing,
  // where `cloud-init status` would start Python (about 5 s of CPU under TCG) during the boot.
  for (let attempt = 0;; attempt++) {
    const result = await read(RESULT);
    if (result !== undefined) {
      const errors = cloudInitErrors(result);
      if (errors === undefined) return;
      throw new StageFailed(
        `cloud-init finished with errors (${CLOUD_INIT_RUN}/${RESULT}): ${errors}${await outputTail(
          via,
          signal,
        )}`,
      );
    }
    await sleep(Math.min(10 * 2 ** attempt, RESULT_POLL_MS), signal);
  }
}

/** Where cloud-init keeps this boot's state, and the file its last stage writes. */
const CLOUD_INIT_RUN = "/run/cloud-init";
const RESULT = "result.json";
const RESULT_POLL_MS = 100;

/** cloud-init's own errors when its result lists any; fails the stage on a garbled result. */
function cloudInitErrors(text: string): string | undefined {
  let errors: unknown;
  try {
    errors = JSON.parse(text)?.v1?.errors;
  } catch {
    errors = undefined;
  }
  if (!Array.isArray(errors)) {
    throw new StageFailed(
      `cannot read cloud-init's ${CLOUD_INIT_RUN}/${RESULT}: ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  if (errors.length === 0) return undefined;
  return errors.map((error) => typeof error === "string" ? error : JSON.stringify(error))
    .join("; ");
}

/** What cloud-init's modules (runcmd, scripts) print goes here, not to the result. */
const CLOUD_INIT_OUTPUT = "/var/log/cloud-init-output.log";
const OUTPUT_LINES = 15;

/**
 * The end of cloud-init's output log, for a failure's message: its errors name the module that
 * failed ("Runparts: 1 failures"), the log what the failing command printed.
 */
async function outputTail(via: GuestAgent | VmSsh, signal: AbortSignal): Promise<string> {
  const tail = `tail -n ${OUTPUT_LINES} ${CLOUD_INIT_OUTPUT}`;
  const text = await (via instanceof VmSsh
    // The log is root's (0640 root:adm); the login user usually has sudo without a password.
    ? via.exec(`${tail} 2>/dev/null || sudo -n ${tail}`, { signal })
      .then((result) => result.exitCode === 0 ? result.stdout : undefined)
    : via.readTextFile(CLOUD_INIT_OUTPUT, { signal })).catch(() => undefined);
  const lines = text?.trimEnd().split("\n").slice(-OUTPUT_LINES).join("\n");
  return lines
    ? `\nThe end of ${CLOUD_INIT_OUTPUT} in the guest (what cloud-init's commands printed):\n${lines}`
    : `; what cloud-init's commands printed is in ${CLOUD_INIT_OUTPUT} in the guest`;
}

/** `cloud-init status --wait --long` in the guest: the long form names the errors. */
async function cloudInitStatus(via: GuestAgent | VmSsh, signal: AbortSignal): Promise<void> {
  const command = ["cloud-init", "status", "--wait", "--long"];
  const result = await via.exec(command, { signal }).catch((error) => {
    if (!(error instanceof GuestAgentError) || error.command.execute !== "guest-exec") throw error;
    throw new StageFailed(
      `the guest agent cannot run cloud-init status --wait (is cloud-init installed in the guest?): ${error.desc}`,
      { cause: error },
    );
  });
  // 2 is "degraded" (cloud-init 23.4 and later): done, with recoverable errors such as a
  // deprecated key, as the agent's path counts a result whose errors list is empty.
  if (result.exitCode !== 0 && result.exitCode !== 2) {
    // --wait prints a dot a poll before the status.
    const said = `${result.stdout}${result.stderr}`.replace(/^\.+/, "").trim().replace(/\s+/g, " ");
    throw new StageFailed(
      result.exitCode === null
        ? "cloud-init status was killed by a signal"
        : `cloud-init finished with errors (cloud-init status exited with ${result.exitCode}: ${said})${await outputTail(
          via,
          signal,
        )}`,
    );
  }
}

/** A stage that came to a definite "no" (not a timeout). */
class StageFailed extends Error {}

const PROBE_MS = [0, 10, 20, 50, 100, 200, 500];

async function probeUntil(
  probe: (signal: AbortSignal) => Promise<unknown> | unknown,
  signal: AbortSignal,
  last: { error?: unknown },
): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0;; attempt++) {
    signal.throwIfAborted();
    try {
      if (await probe(signal) !== false) return;
    } catch (error) {
      if (signal.aborted) throw error;
      lastError = error;
      last.error = error;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, PROBE_MS[attempt] ?? 1000);
      const onAbort = () => {
        clearTimeout(timer);
        reject(lastError ?? signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * Waits for every stage (`Vm.ready`).
 *
 * @param ctx The VM's console, agent and failure watch.
 * @param options Stages, default time limit per stage, signal.
 * @returns When each stage was reached.
 */
export async function readyVm(ctx: ReadyContext, options: ReadyOptions): Promise<ReadyResult> {
  checkTimeout("wait for the VM to be ready", options.timeout);
  const unknown = Object.keys(options).filter((key) =>
    !["stages", "timeout", "signal"].includes(key)
  );
  if (unknown.length > 0) {
    throw new TypeError(
      `Cannot wait for the VM to be ready with option ${
        JSON.stringify(unknown[0])
      }: use stages, timeout and signal`,
    );
  }
  const stages = options.stages ?? [
    "qemu",
    ...ctx.agent === undefined ? [] : ["agent" as const],
    ...ctx.ssh === undefined ? [] : ["ssh" as const],
  ];
  if (!Array.isArray(stages)) {
    throw new TypeError(
      `Cannot wait for the VM to be ready: stages is ${describe(stages)}; give an array`,
    );
  }
  const plans = stages.map((stage) =>
    planStage(ctx, stage, options.timeout ?? DEFAULT_STAGE_TIMEOUT)
  );
  const all = new AbortController();
  const onAbort = () => all.abort(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const never = new Promise<never>(() => {});
  try {
    const reached = await Promise.all(plans.map(async (plan) => {
      const stage = new AbortController();
      const stop = () => stage.abort(all.signal.reason);
      all.signal.addEventListener("abort", stop, { once: true });
      const timer = setTimeout(
        () =>
          stage.abort(
            new StageTimeout(
              `not reached within ${plan.timeout} ms${plan.late ? `: ${plan.late()}` : ""}${
                silence(ctx.console, plan.timeout, ctx.silentCause)
              }`,
            ),
          ),
        plan.timeout,
      );
      try {
        await Promise.race([
          plan.run(stage.signal),
          ctx.failure.then((reason) => Promise.reject(new StageFailed(reason))),
          stage.signal.aborted
            ? Promise.reject(stage.signal.reason)
            : new Promise<never>((_, reject) =>
              stage.signal.addEventListener("abort", () => reject(stage.signal.reason), {
                once: true,
              })
            ),
          never,
        ]);
        return { name: plan.name, ms: Math.round(performance.now() - ctx.launchedAt) };
      } catch (error) {
        if (options.signal?.aborted && error === options.signal.reason) throw error;
        // A console that closed under a wait means QEMU exited: how, and why, says more.
        const ended = error instanceof ConsoleClosedError
          ? await settledWithin(ctx.failure, 1000)
          : undefined;
        const reason = ended ??
          (error instanceof Error ? error.message : String(error));
        const failure = new VmReadyError(plan.name, reason, consoleTail(ctx.console), {
          cause: error,
        });
        all.abort(failure);
        throw failure;
      } finally {
        clearTimeout(timer);
        all.signal.removeEventListener("abort", stop);
      }
    }));
    return { stages: reached };
  } catch (error) {
    // The first stage to fail says why; the others were stopped by it.
    throw all.signal.reason instanceof VmReadyError ? all.signal.reason : error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    all.abort();
  }
}

class StageTimeout extends Error {}
