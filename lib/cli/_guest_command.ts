// A command run as a guest job (`vmkit kernel`, `vmkit run` of a tiny guest): its output on
// stdout as the guest prints it, its status as vmkit's, and every way vmkit could not run it as
// exit 125 with the reason: a panic with its line, a time limit, a kernel without the drivers
// the job needs, too little memory. And the console shell without a command: its exit status
// as vmkit's.

import { runGuestJob } from "../vm/guest_job.ts";
import type { VmBuilder } from "../vm/builder.ts";
import { GuestJobError, GuestJobTimeoutError, GuestPanicError } from "../vm/errors.ts";
import { parseJobStatus } from "../vm/_guest_job_status.ts";
import { KERNEL_PANIC_LINE } from "../vm/_vm_failure.ts";
import { GUEST_READY_LINE, JOB_STATUS_PORT_NAME } from "../guest/default_init.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { status } from "./_output.ts";
import { attachConsole, type AttachEnd } from "./_console_attach.ts";
import { InterruptedError, shellStatus } from "./_interrupt.ts";

const encoder = new TextEncoder();

/**
 * What a Unix tool exits with when the reader of its stdout went away (`vmkit kernel ... | head
 * -1`): as SIGPIPE's death, 128 + 13, which a shell reports for `yes | head -1` too.
 */
export const BROKEN_PIPE_STATUS = 141;

/** Below this much memory, a guest that stopped before its job or shell began most likely lacked it. */
const SMALL_MEMORY_MIB = 256;

/** What the guest has, for the hint when it ran out of memory or could not boot in it. */
export interface GuestMemory {
  /** The guest's memory in MiB. */
  mib: number;
  /** The option that sets it, as the user types it before the size (`"-m"`). */
  option: string;
}

/** Options of {@linkcode guestJobStatus}. */
export interface GuestCommandOptions {
  /** Ctrl-C. */
  signal: AbortSignal;
  /** The whole job's limit in ms, boot included. */
  timeout?: number;
  /** What to do when the guest had no job status port (its kernel lacks a virtio console). */
  noStatusPort: string;
  /** The guest's memory, named in the message when the guest ran out of it or could not boot. */
  memory?: GuestMemory;
}

/** Options of {@linkcode guestShellStatus}. */
export interface GuestShellOptions {
  /** Ctrl-C. */
  signal: AbortSignal;
  /** The guest's memory, named in the message when the guest ran out of it or could not boot. */
  memory?: GuestMemory;
}

async function writeAll(file: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** Console lines without the job's start and end markers, ending with a newline; "" for none. */
function withoutMarkers(text: string): string {
  const lines = text.replace(/^vmkit-job: (start|end) [0-9a-f]+\r?\n?/gm, "");
  return lines.trim() === "" ? "" : lines.replace(/\n?$/, "\n");
}

/** "give it more with -m 512M": at least the default, else twice what it has. */
function moreMemory(memory: GuestMemory): string {
  return `give it more with ${memory.option} ${Math.max(512, memory.mib * 2)}M`;
}

/** The hint for a panic: when the kernel says it ran out of memory, how to give it more. */
function panicHint(line: string | undefined, memory: GuestMemory | undefined): string {
  if (memory === undefined || line === undefined || !/memory/i.test(line)) return "";
  return `; the guest ran out of its ${memory.mib} MiB of memory: ${moreMemory(memory)}`;
}

/**
 * The hint for a guest that stopped before its job or shell began: with little memory, the
 * kernel most likely did not fit (QEMU resets a machine whose kernel cannot load, and exits).
 */
function bootHint(memory: GuestMemory | undefined): string {
  if (memory === undefined || memory.mib >= SMALL_MEMORY_MIB) return "";
  return `; with ${memory.mib} MiB of memory, the likely cause is too little memory for this kernel: ${
    moreMemory(memory)
  }`;
}

/**
 * Runs the command as the guest's only job, prints its output on stdout as the guest prints it
 * (the kernel's messages meanwhile, a panic's included, are part of it), and returns the status
 * vmkit exits with: its exit code, or 128 + N when signal N killed it.
 *
 * @param builder The VM, booting vmkit's default init.
 * @param command A shell line, or a program and its arguments.
 * @param options Signal, time limit, the guest's memory.
 * @returns The status; {@linkcode BROKEN_PIPE_STATUS} when stdout's reader went away (the guest
 *   was shut down, and nothing is printed).
 * @throws {InterruptedError} When Ctrl-C came (the guest was shut down).
 * @throws {CliError} With exit 125 when the command could not run or finish: a panic (with its
 *   line), the time limit, QEMU's failure. When the job had not started, the console's last
 *   lines go to stderr first (else they were on stdout already).
 */
export async function guestJobStatus(
  builder: VmBuilder,
  command: string | readonly string[],
  options: GuestCommandOptions,
): Promise<number> {
  const shown = typeof command === "string" ? command : command.join(" ");
  const what = `Cannot run ${JSON.stringify(shown)} in the guest`;
  let printed = false;
  try {
    const result = await runGuestJob(builder, command, {
      signal: options.signal,
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
      onOutput: async (text) => {
        printed = true;
        await writeAll(Deno.stdout, text);
      },
    });
    return shellStatus(result.exitCode, result.signal);
  } catch (error) {
    if (error instanceof InterruptedError || options.signal.aborted) throw options.signal.reason;
    // runGuestJob shut the guest down when the write failed.
    if (error instanceof Deno.errors.BrokenPipe) return BROKEN_PIPE_STATUS;
    if (error instanceof GuestPanicError) {
      if (!printed) await writeAll(Deno.stderr, withoutMarkers(error.consoleTail));
      const line = KERNEL_PANIC_LINE.exec(error.consoleTail)?.[0].trim();
      throw new CliError(
        `${what}: the guest kernel panicked${line === undefined ? "" : `: ${line}`}${
          panicHint(line, options.memory)
        }`,
        EXIT.guestCommandNotRun,
        { cause: error },
      );
    }
    if (error instanceof GuestJobTimeoutError) {
      if (!printed) await writeAll(Deno.stderr, withoutMarkers(error.consoleTail));
      throw new CliError(
        `${what}: it did not finish within ${
          error.timeout / 1000
        } s (--timeout); the VM was killed`,
        EXIT.guestCommandNotRun,
        { cause: error },
      );
    }
    if (error instanceof GuestJobError) {
      const noPort = error.consoleTail.includes(JOB_STATUS_PORT_NAME);
      const started = printed || /^vmkit-job: start /m.test(error.consoleTail);
      throw new CliError(
        noPort
          ? `${what}: the guest has no virtio console, so the job cannot report its status; ${options.noStatusPort}`
          : `${what}: ${error.message}${started ? "" : bootHint(options.memory)}${
            error.consoleTail.trim() === ""
              ? ""
              : `; the console's last lines:\n${error.consoleTail.trim()}`
          }`,
        EXIT.guestCommandNotRun,
        { cause: error },
      );
    }
    throw new CliError(`${what}: ${(error as Error).message}`, EXIT.guestCommandNotRun, {
      cause: error,
    });
  }
}

/** The console's last lines, for a message. */
function consoleTail(transcript: string): string {
  const lines = transcript.replaceAll("\r\n", "\n").trimEnd().split("\n").slice(-20).join("\n");
  return lines.trim() === "" ? "" : `; the console's last lines:\n${lines}`;
}

/**
 * Boots a VM of vmkit's default init with its console on the terminal (see `attachConsole`)
 * until the guest stops, Ctrl-] is typed or the signal aborts, and returns the status vmkit
 * exits with: the console shell's, as the init reports it on the job status port when the
 * shell exits (`exit 5` gives 5; 128 + N when signal N killed it), else 0 (the guest powered
 * off by `poweroff` or its power button, Ctrl-] stopped it, or an init that does not report it).
 *
 * @param builder The VM, booting vmkit's default init; a job status port is added to it.
 * @param options The signal (Ctrl-C), the guest's memory.
 * @returns The status; {@linkcode BROKEN_PIPE_STATUS} when stdout's reader went away (the guest
 *   was shut down, and nothing is printed).
 * @throws The signal's reason when it aborts (after the shutdown).
 * @throws {CliError} When the guest's kernel panicked, QEMU failed, or the guest stopped before
 *   its shell started.
 */
export async function guestShellStatus(
  builder: VmBuilder,
  options: GuestShellOptions,
): Promise<number> {
  const { signal } = options;
  const dir = await Deno.makeTempDir({ prefix: "vmkit-shell-" });
  try {
    const statusFile = `${dir}/status`;
    await using machine = await builder.device({
      kind: "virtio-serial-port",
      name: JOB_STATUS_PORT_NAME,
      chardev: { backend: "file", path: statusFile },
    }).launch({ signal });
    let end: AttachEnd;
    try {
      end = await attachConsole(machine.console, { signal, readyLine: GUEST_READY_LINE });
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      await machine.shutdown();
      return BROKEN_PIPE_STATUS;
    }
    if (end !== "exited") {
      status("vmkit: shutting the VM down");
      await machine.shutdown();
    }
    if (end === "aborted") throw signal.reason;
    const exit = await machine.exited;
    const transcript = machine.console.transcript;
    const panic = KERNEL_PANIC_LINE.exec(transcript)?.[0].trim();
    if (panic !== undefined) {
      throw new CliError(
        `The guest kernel panicked: ${panic}${panicHint(panic, options.memory)}`,
        EXIT.failure,
      );
    }
    if (end === "escape") return EXIT.ok;
    const report = parseJobStatus(await Deno.readTextFile(statusFile).catch(() => ""));
    if (report !== undefined) return shellStatus(report.exitCode, report.signal);
    const stderr = machine.stderr.trim() === "" ? "" : `; QEMU said: ${machine.stderr.trim()}`;
    if (!transcript.includes(GUEST_READY_LINE)) {
      throw new CliError(
        `Cannot start the guest's shell: QEMU exited (code ${exit.code}) before the guest was up${stderr}${
          bootHint(options.memory)
        }${consoleTail(transcript)}`,
        EXIT.failure,
      );
    }
    if (!exit.success) {
      throw new CliError(`QEMU exited with code ${exit.code}${stderr}`, EXIT.failure);
    }
    return EXIT.ok;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
