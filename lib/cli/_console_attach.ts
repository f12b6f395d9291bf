// A foreground VM's serial console on the terminal: its output to stdout, stdin to it. On a
// terminal stdin is raw (Ctrl-C goes to the guest) and Ctrl-] stops the VM; piped input is held
// until the guest's shell is up, so none of it is lost while the guest boots.

import type { Console } from "../vm/console.ts";
import type { VmBuilder } from "../vm/builder.ts";
import { KERNEL_PANIC_LINE } from "../vm/_vm_failure.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { status } from "./_output.ts";

/** How an attached console ended. */
export type AttachEnd = "exited" | "escape" | "aborted";

/** Options of {@linkcode attachConsole}. */
export interface AttachOptions {
  /** Stops the attachment (Ctrl-C when stdin is not a terminal). */
  signal: AbortSignal;
  /** A console line to wait for before piped input is sent (the guest's ready line). */
  readyLine?: string;
}

/** Ctrl-]: the escape key of telnet and `virsh console`. */
const ESCAPE = 0x1d;

async function writeAll(bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await Deno.stdout.write(bytes.subarray(written));
}

/**
 * Shows the console on stdout and types stdin into it, until QEMU exits (the console closes),
 * Ctrl-] is typed on a terminal, or the signal aborts.
 *
 * @param console The VM's console.
 * @param options The signal; the line to wait for before sending piped input.
 * @returns How it ended.
 */
export async function attachConsole(console: Console, options: AttachOptions): Promise<AttachEnd> {
  const terminal = Deno.stdin.isTerminal();
  let escaped!: () => void;
  const escape = new Promise<AttachEnd>((resolve) => escaped = () => resolve("escape"));
  const aborted = new Promise<AttachEnd>((resolve) => {
    if (options.signal.aborted) resolve("aborted");
    options.signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  const output = (async (): Promise<AttachEnd> => {
    for await (const chunk of console.stream()) await writeAll(chunk);
    return "exited";
  })();
  if (terminal) {
    Deno.stdin.setRaw(true);
    status("vmkit: attached to the console; Ctrl-] stops the VM\r");
  }
  (async () => {
    if (!terminal && options.readyLine !== undefined) {
      await console.seen(options.readyLine, { signal: options.signal, keepAlive: false });
    }
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) return; // piped input ended: the guest goes on until it stops
      let bytes = buffer.subarray(0, n);
      const at = terminal ? bytes.indexOf(ESCAPE) : -1;
      if (at >= 0) bytes = bytes.subarray(0, at);
      if (bytes.length > 0) await console.send(decoder.decode(bytes, { stream: true }));
      if (at >= 0) return escaped();
    }
  })().catch(() => {
    // The console closed or the wait was aborted: the race below has its answer.
  });
  try {
    return await Promise.race([output, escape, aborted]);
  } finally {
    if (terminal) Deno.stdin.setRaw(false);
  }
}

/**
 * Boots a VM with its console on the terminal until the guest stops (the console closes),
 * Ctrl-] is typed or the signal aborts; then shuts it down (the power button, then QMP quit,
 * SIGTERM, SIGKILL) and removes its runtime directory.
 *
 * @param builder The VM.
 * @param options The signal (Ctrl-C); the line to wait for before sending piped input.
 * @throws The signal's reason when it aborts (after the shutdown).
 * @throws {CliError} When the guest's kernel panicked, or QEMU failed.
 */
export async function runWithConsole(builder: VmBuilder, options: AttachOptions): Promise<void> {
  const signal = options.signal;
  await using machine = await builder.launch({ signal });
  const end = await attachConsole(machine.console, options);
  if (end !== "exited") {
    status("vmkit: shutting the VM down");
    await machine.shutdown();
  }
  if (end === "aborted") throw signal.reason;
  const exit = await machine.exited;
  const panic = KERNEL_PANIC_LINE.exec(machine.console.transcript);
  if (panic !== null) {
    throw new CliError(`The guest kernel panicked: ${panic[0].trim()}`, EXIT.failure);
  }
  if (end === "exited" && !exit.success) {
    throw new CliError(
      `QEMU exited with code ${exit.code}${
        machine.stderr.trim() === "" ? "" : `: ${machine.stderr.trim()}`
      }`,
      EXIT.failure,
    );
  }
}
