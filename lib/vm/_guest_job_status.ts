// The pure parts of a guest job: the command as the init reads it, the status report busybox
// time writes, and the job's output cut from the console's transcript.

import { linuxSignalName } from "../_signals.ts";
import { KERNEL_PANIC_LINE } from "./_vm_failure.ts";

/** Quotes a word for the guest's shell. */
function quote(word: string): string {
  return /^[A-Za-z0-9_./:=+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell command line a job runs: a string as it is, argv words quoted and run with `exec`
 * (so the program's own death by a signal is the job's).
 *
 * @throws {TypeError} When the command is empty or holds NUL.
 */
export function jobScript(command: string | readonly string[]): string {
  const shown = JSON.stringify(command);
  if (typeof command === "string") {
    if (command.trim() === "" || command.includes("\0")) {
      throw new TypeError(`Cannot run guest job ${shown}: the command is empty or contains NUL`);
    }
    return command;
  }
  if (
    !Array.isArray(command) || command.length === 0 ||
    command.some((word) => typeof word !== "string" || word.includes("\0")) || command[0] === ""
  ) {
    throw new TypeError(
      `Cannot run guest job ${shown}: give a non-empty string, or an array of strings without NUL starting with the program`,
    );
  }
  return `exec ${command.map(quote).join(" ")}`;
}

/** How a job ended, as its status report says. */
export type JobStatus = { exitCode: number; signal: null } | { exitCode: null; signal: string };

/**
 * Reads busybox time's report (`-f 'exit %x'`): a line `Command terminated by signal N` when
 * the program died by a signal, then `exit N`.
 *
 * @returns The status, or `undefined` when the report is not complete.
 */
export function parseJobStatus(report: string): JobStatus | undefined {
  const signal = /^Command terminated by signal (\d+)$/m.exec(report);
  if (signal !== null) return { exitCode: null, signal: linuxSignalName(Number(signal[1])) };
  const exit = /^exit (\d+)$/m.exec(report);
  if (exit !== null) return { exitCode: Number(exit[1]), signal: null };
  return undefined;
}

/**
 * The job's output in the console transcript: after the start line with the nonce, up to the
 * end marker with the nonce; `\r\n` of the serial line read as `\n`.
 */
export function jobOutput(transcript: string, nonce: string): string | undefined {
  const text = transcript.replaceAll("\r\n", "\n");
  const startLine = `vmkit-job: start ${nonce}\n`;
  const start = text.indexOf(startLine);
  if (start < 0) return undefined;
  const from = start + startLine.length;
  const end = text.lastIndexOf(`vmkit-job: end ${nonce}`);
  return text.slice(from, end < from ? undefined : end);
}

/**
 * The lines of a panic: from a few lines before the kernel's "Kernel panic" line to the end (at
 * most 200 lines), or the last 40 lines when there is none.
 */
export function panicLines(transcript: string): string {
  const lines = transcript.replaceAll("\r\n", "\n").split("\n");
  const at = lines.findLastIndex((line) => KERNEL_PANIC_LINE.test(line));
  if (at < 0) return lines.slice(-40).join("\n");
  return lines.slice(Math.max(0, at - 5), at + 195).join("\n");
}

/** The last lines of a transcript, for errors. */
export function tailLines(transcript: string, lines = 40): string {
  return transcript.replaceAll("\r\n", "\n").split("\n").slice(-lines).join("\n");
}
