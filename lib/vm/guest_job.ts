/**
 * One command as a guest's whole job, and its exit status back (virtme-ng's `virtme.ret` idea):
 * for running a kernel on a test, vmtest style.
 *
 * @module
 */

import { checkTimeout, settledWithin, type WaitOptions } from "../_deadline.ts";
import { encodeBase64 } from "../_base64.ts";
import { JOB_STATUS_PORT_NAME } from "../guest/default_init.ts";
import type { VmBuilder } from "./builder.ts";
import { GuestJobError, GuestJobTimeoutError, GuestPanicError } from "./errors.ts";
import type { Vm, VmExit } from "./vm.ts";
import {
  jobOutput,
  jobScript,
  panicLines,
  parseJobStatus,
  tailLines,
} from "./_guest_job_status.ts";
import { KERNEL_PANIC_LINE } from "./_vm_failure.ts";

/** Options of {@linkcode runGuestJob}. */
export interface GuestJobOptions extends WaitOptions {
  /**
   * The longest the whole job may take, boot and power-off included, in milliseconds; then the
   * VM is killed and a {@linkcode GuestJobTimeoutError} thrown. Default: no limit.
   */
  timeout?: number;
}

/** How a guest job ended. */
export interface GuestJobResult {
  /** The exit code, or `null` when the program was killed by a signal. */
  exitCode: number | null;
  /** The signal that killed it (`"SIGKILL"`, `"SIGSEGV"`), or `null` when it exited. */
  signal: string | null;
  /** What it wrote to stdout and stderr (the console; `\r\n` read as `\n`). */
  output: string;
  /** Milliseconds from launch to QEMU's exit. */
  durationMs: number;
  /** QEMU's exit. */
  exit: VmExit;
}

/** The kernel's command line holds 2048 bytes on x86_64 and aarch64; leave room for the rest. */
const MAX_JOB_PARAMETER = 1536;

/** An AbortSignal that aborts when `signal` does, or when aborted itself. */
function linked(signal: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort(signal.reason);
  signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  return controller;
}

type Outcome =
  | { kind: "exit"; exit: VmExit }
  | { kind: "panic"; by: "pvpanic" | "console" }
  | { kind: "timeout" }
  | { kind: "abort"; reason: unknown };

/**
 * Boots a VM to run one command as the guest's only job, and returns how it ended. The guest
 * must boot vmkit's default init (the tiny guest does): the command goes on the kernel command
 * line (`vmkit.job=`, base64; no initramfs is rebuilt), runs with `/dev/null` as stdin and the
 * console as stdout and stderr, and the guest powers off after it.
 *
 * The status comes back on a virtio-serial port (`org.vmkit.job.status`) to a file in a
 * temporary directory: the command's output goes to the console, so nothing it prints can pass
 * for its status. busybox `time` reports it, so a program killed by a signal is reported as
 * that signal, not as a shell's 128+N. The output is cut from the console between two lines
 * carrying a random nonce of the run.
 *
 * The VM gets `-no-reboot` (a panic's reboot ends QEMU instead of running the job again), the
 * status port, and `vmkit.job`/`vmkit.nonce` appended to its kernel command line. A kernel panic
 * (QMP `GUEST_PANICKED` from a pvpanic device, or the console's "Kernel panic - not syncing"
 * line) throws {@linkcode GuestPanicError} at once. Nothing is left behind: the VM is killed on
 * every error, and the temporary directory removed.
 *
 * @param builder A VM with a kernel and an initramfs with vmkit's default init.
 * @param command A shell command line, or a program and its arguments.
 * @param options Time limit and signal.
 * @returns The exit code or signal, the output, how long it took, QEMU's exit.
 * @throws {TypeError} When the command is empty, or the builder has no kernel.
 * @throws {RangeError} When the command does not fit on the kernel command line.
 * @throws {GuestPanicError} When the guest kernel panics.
 * @throws {GuestJobError} When QEMU exits before the job's status arrives (with QEMU's exit and
 *   stderr).
 * @throws {GuestJobTimeoutError} When the timeout passes (the VM is killed).
 * @throws {VmLaunchError} When QEMU does not start.
 *
 * @example
 * ```ts
 * import { runGuestJob, tinyGuest, vm } from "@vmkit/vmkit";
 * const guest = await tinyGuest("x86_64");
 * const builder = vm({ arch: "x86_64" }).memory("256M").kernel(guest.kernel, { initrd: guest.initrd });
 * const { exitCode, output } = await runGuestJob(builder, "uname -r", { timeout: 60_000 });
 * ```
 */
export async function runGuestJob(
  builder: VmBuilder,
  command: string | readonly string[],
  options: GuestJobOptions = {},
): Promise<GuestJobResult> {
  checkTimeout("run guest job", options.timeout);
  const script = jobScript(command);
  const kernel = builder.toJSON().kernel;
  if (kernel === undefined) {
    throw new TypeError(
      `Cannot run guest job ${
        JSON.stringify(command)
      }: the VM boots no kernel; give it one with an initramfs of vmkit's default init, such as .kernel(guest.kernel, { initrd: guest.initrd }) of tinyGuest()`,
    );
  }
  const encoded = encodeBase64(new TextEncoder().encode(script));
  if (encoded.length > MAX_JOB_PARAMETER) {
    throw new RangeError(
      `Cannot run guest job ${
        JSON.stringify(script.slice(0, 60))
      }...: it is ${encoded.length} bytes in base64, and the kernel command line holds ${MAX_JOB_PARAMETER} of them; put the command in a script in the initramfs or on a disk`,
    );
  }
  const nonce = [...crypto.getRandomValues(new Uint8Array(16))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const dir = await Deno.makeTempDir({ prefix: "vmkit-job-" });
  try {
    const statusFile = `${dir}/status`;
    const { path, ...kernelOptions } = kernel;
    const append = [kernelOptions.append, `vmkit.job=${encoded}`, `vmkit.nonce=${nonce}`]
      .filter((part) => part !== undefined && part !== "").join(" ");
    const job = builder
      .kernel(path, { ...kernelOptions, append })
      .noReboot()
      .device({
        kind: "virtio-serial-port",
        name: JOB_STATUS_PORT_NAME,
        chardev: { backend: "file", path: statusFile },
      });
    const started = performance.now();
    const remaining = () =>
      options.timeout === undefined
        ? undefined
        : Math.max(0, options.timeout - (performance.now() - started));
    const machine = await job.launch({ signal: options.signal, timeout: remaining() });
    try {
      const outcome = await watch(machine, options.signal, remaining());
      const durationMs = performance.now() - started;
      if (outcome.kind === "timeout" || outcome.kind === "abort" || outcome.kind === "panic") {
        machine.kill("SIGKILL");
        await settledWithin(machine.exited, 5000);
        await settledWithin(machine.console.closed, 1000);
        const transcript = machine.console.transcript;
        if (outcome.kind === "timeout") {
          throw new GuestJobTimeoutError(options.timeout!, tailLines(transcript));
        }
        if (outcome.kind === "abort") throw outcome.reason;
        throw new GuestPanicError(panicLines(transcript), outcome.by);
      }
      await settledWithin(machine.console.closed, 2000);
      const transcript = machine.console.transcript;
      const report = await Deno.readTextFile(statusFile).catch(() => "");
      const status = parseJobStatus(report);
      if (status === undefined) {
        if (KERNEL_PANIC_LINE.test(transcript)) {
          throw new GuestPanicError(panicLines(transcript), "console");
        }
        throw new GuestJobError(
          `Cannot get the guest job's status: QEMU exited (code ${outcome.exit.code}${
            outcome.exit.signal === null ? "" : `, ${outcome.exit.signal}`
          }) before it arrived${
            machine.stderr.trim() === "" ? "" : `; QEMU said: ${machine.stderr.trim()}`
          }`,
          {
            exit: outcome.exit,
            stderr: machine.stderr,
            argv: machine.argv,
            consoleTail: tailLines(transcript),
          },
        );
      }
      return {
        ...status,
        output: jobOutput(transcript, nonce) ?? "",
        durationMs,
        exit: outcome.exit,
      };
    } finally {
      if (!machine.hasExited) machine.kill("SIGKILL");
      await machine[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Waits for QEMU's exit, a panic, the timeout or the signal, whichever comes first. */
async function watch(
  machine: Vm,
  signal: AbortSignal | undefined,
  timeout: number | undefined,
): Promise<Outcome> {
  const stop = linked(signal);
  const waits: Promise<Outcome>[] = [
    machine.exited.then((exit) => ({ kind: "exit", exit })),
    machine.qmp.waitForEvent("GUEST_PANICKED", { signal: stop.signal, keepAlive: false })
      .then(() => ({ kind: "panic", by: "pvpanic" }), () => new Promise<never>(() => {})),
    machine.console.expect(KERNEL_PANIC_LINE, { signal: stop.signal })
      .then(async () => {
        // The guest reboots on a panic (panic=-1) and -no-reboot ends QEMU: let the trace
        // reach the console first.
        await settledWithin(machine.exited, 2000);
        return { kind: "panic", by: "console" } as Outcome;
      }, () => new Promise<never>(() => {})),
    new Promise<Outcome>((resolve) => {
      if (signal?.aborted) resolve({ kind: "abort", reason: signal.reason });
      signal?.addEventListener("abort", () => resolve({ kind: "abort", reason: signal.reason }), {
        once: true,
      });
    }),
  ];
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeout !== undefined) {
    waits.push(
      new Promise((resolve) => timer = setTimeout(() => resolve({ kind: "timeout" }), timeout)),
    );
  }
  try {
    const first = await Promise.race(waits);
    // A panic's reboot ends QEMU at once: the exit may win the race; the console says which.
    return first;
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}
