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
import type { ShutdownOptions } from "./vm_types.ts";
import {
  jobOutput,
  JobOutputCutter,
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
   *
   * @example
   * ```ts
   * import { runGuestJob, type VmBuilder } from "@vmkit/vmkit";
   * declare const builder: VmBuilder;
   * await runGuestJob(builder, "make -C /src check", { timeout: 10 * 60_000 });
   * ```
   */
  timeout?: number;
  /**
   * Stops the job: the guest is shut down as its power button asks (vmkit's init ends the job's
   * processes with SIGHUP and SIGTERM, syncs and unmounts its filesystems, powers off), QEMU
   * quit and then signalled when it takes more than a few seconds; then `runGuestJob` throws
   * the signal's reason.
   *
   * @example
   * ```ts
   * import { runGuestJob, type VmBuilder } from "@vmkit/vmkit";
   * declare const builder: VmBuilder;
   * const controller = new AbortController();
   * Deno.addSignalListener("SIGINT", () => controller.abort());
   * await runGuestJob(builder, "./long-test.sh", { signal: controller.signal });
   * ```
   */
  signal?: AbortSignal;
  /**
   * Called with the job's output as the guest prints it, in order, each call awaited before the
   * next: the console's text from the job's start to its end (`\r\n` read as `\n`), without the
   * boot's messages before it or the power-off's after it; the kernel's own messages while the
   * job runs are part of it, as on the console. When the job ends, what it was given, joined,
   * is the result's `output`. After an abort it goes on until the guest is down (the job's last
   * words, the kernel's power-off line); a last call may come with the rest of a line held back
   * while the console could still turn it into the end marker. It is not called once
   * `runGuestJob` has settled. When it throws or rejects, the job is stopped as an abort stops
   * it, and `runGuestJob` throws that error.
   *
   * @example Print the job's output as it comes
   * ```ts
   * import { runGuestJob, type VmBuilder } from "@vmkit/vmkit";
   * declare const builder: VmBuilder;
   * const encoder = new TextEncoder();
   * const { exitCode } = await runGuestJob(builder, "./run-tests.sh", {
   *   onOutput: async (text) => {
   *     await Deno.stdout.write(encoder.encode(text));
   *   },
   * });
   * ```
   */
  onOutput?: (text: string) => void | Promise<void>;
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

/**
 * How an aborted job's VM is stopped: the guest gets 5 s to power off on its power button
 * (vmkit's init gives the job's processes up to 2 s of them), then QEMU 2 s to quit, then 1 s
 * after SIGTERM before SIGKILL.
 */
const ABORT_SHUTDOWN: ShutdownOptions = { timeout: 5000, quitTimeout: 2000, termTimeout: 1000 };

/** The kernel's command line holds 2048 bytes on x86_64 and aarch64; leave room for the rest. */
const MAX_JOB_PARAMETER = 1536;

/**
 * Gives a job's output to `onOutput` as the console brings it: one awaited call at a time, with
 * all that came while the previous call ran. A call that fails stops the calls, and is reported
 * once to `onError`.
 */
class OutputPump {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #cutter: JobOutputCutter;
  readonly #onOutput: (text: string) => void | Promise<void>;
  readonly #onError: (error: unknown) => void;
  readonly #read: Promise<void>;
  /** Output cut and not yet given. */
  #pending = "";
  /** Length of all output cut so far, given or pending. */
  #taken = 0;
  #giving?: Promise<void>;
  #finished = false;
  /** What the first failed call threw. */
  error?: { reason: unknown };

  constructor(
    stream: ReadableStream<Uint8Array>,
    nonce: string,
    onOutput: (text: string) => void | Promise<void>,
    onError: (error: unknown) => void,
  ) {
    this.#reader = stream.getReader();
    this.#cutter = new JobOutputCutter(nonce);
    this.#onOutput = onOutput;
    this.#onError = onError;
    this.#read = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    while (this.error === undefined) {
      const { value, done } = await this.#reader.read();
      if (done) return;
      this.#take(this.#cutter.push(decoder.decode(value, { stream: true })));
    }
  }

  #take(text: string): void {
    if (text === "") return;
    this.#pending += text;
    this.#taken += text.length;
    this.#giving ??= this.#give();
  }

  async #give(): Promise<void> {
    while (this.#pending !== "" && this.error === undefined) {
      const text = this.#pending;
      this.#pending = "";
      try {
        await this.#onOutput(text);
      } catch (error) {
        this.error = { reason: error };
        this.#onError(error);
      }
    }
    this.#giving = undefined;
  }

  /**
   * Stops reading and, the first time, gives what `output` holds beyond what was cut: the tail
   * held back while the console could still show the end marker. Resolves when the last call
   * has returned.
   *
   * @param output The job's output cut from the whole transcript, once the console has closed.
   */
  async finish(output: string | undefined): Promise<void> {
    await this.#reader.cancel();
    await this.#read;
    if (!this.#finished && output !== undefined) this.#take(output.slice(this.#taken));
    this.#finished = true;
    await this.#giving;
  }
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
 * carrying a random nonce of the run; `onOutput` gets it as it is printed.
 *
 * The VM gets `-no-reboot` (a panic's reboot ends QEMU instead of running the job again), the
 * status port, and `vmkit.job`/`vmkit.nonce` appended to its kernel command line. A kernel panic
 * (QMP `GUEST_PANICKED` from a pvpanic device, or the console's "Kernel panic - not syncing"
 * line) throws {@linkcode GuestPanicError} at once. Nothing is left behind: an abort shuts the
 * guest down (its power button, then QEMU's `quit` and signals, within about 8 s), a timeout or
 * a panic kills QEMU, and the temporary directory is removed.
 *
 * @param builder A VM with a kernel and an initramfs with vmkit's default init.
 * @param command A shell command line, or a program and its arguments.
 * @param options Time limit, signal, and where the output goes as it comes.
 * @returns The exit code or signal, the output, how long it took, QEMU's exit.
 * @throws {TypeError} When the command is empty, or the builder has no kernel.
 * @throws {RangeError} When the command does not fit on the kernel command line.
 * @throws {GuestPanicError} When the guest kernel panics.
 * @throws {GuestJobError} When QEMU exits before the job's status arrives (with QEMU's exit and
 *   stderr).
 * @throws {GuestJobTimeoutError} When the timeout passes (the VM is killed).
 * @throws {VmLaunchError} When QEMU does not start.
 * @throws {unknown} The signal's reason when it aborts (once the guest is shut down), and what
 *   `onOutput` threw when it failed.
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
    // Aborts on the caller's signal, or when onOutput fails.
    const failed = new AbortController();
    const signal = options.signal === undefined
      ? failed.signal
      : AbortSignal.any([options.signal, failed.signal]);
    const pump = options.onOutput === undefined
      ? undefined
      : new OutputPump(machine.console.stream(), nonce, options.onOutput, (error) =>
        failed.abort(error));
    try {
      const outcome = await watch(machine, signal, remaining());
      const durationMs = performance.now() - started;
      if (outcome.kind === "abort") {
        // The guest shuts down as on its power button, closing what it has open; QEMU is quit
        // or signalled only when it does not in time.
        await machine.shutdown(ABORT_SHUTDOWN);
        await settledWithin(machine.console.closed, 1000);
        await pump?.finish(jobOutput(machine.console.transcript, nonce));
        throw outcome.reason;
      }
      if (outcome.kind === "timeout" || outcome.kind === "panic") {
        // Nothing to save: a timeout's job is stuck, a panicked kernel cannot power off.
        machine.kill("SIGKILL");
        await settledWithin(machine.exited, 5000);
        await settledWithin(machine.console.closed, 1000);
        const transcript = machine.console.transcript;
        await pump?.finish(jobOutput(transcript, nonce));
        if (outcome.kind === "timeout") {
          throw new GuestJobTimeoutError(options.timeout!, tailLines(transcript));
        }
        throw new GuestPanicError(panicLines(transcript), outcome.by);
      }
      await settledWithin(machine.console.closed, 2000);
      const transcript = machine.console.transcript;
      const output = jobOutput(transcript, nonce);
      await pump?.finish(output);
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
      if (pump?.error !== undefined) throw pump.error.reason;
      return { ...status, output: output ?? "", durationMs, exit: outcome.exit };
    } finally {
      await pump?.finish(undefined);
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
  const stop = new AbortController();
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
