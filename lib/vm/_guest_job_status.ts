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
 * Cuts a job's output from the console while it runs: fed the console's text piece by piece as
 * it arrives, it gives out what is surely the job's output so far. All it gives out, once the
 * console has closed, is what {@linkcode jobOutput} finds in the whole transcript, up to a held
 * tail: a `"\r"` that may begin a `"\r\n"`, text that may begin the end marker, and what follows
 * an end marker (the output ends at the last one, so a job that prints the marker itself is cut
 * as jobOutput cuts it).
 */
export class JobOutputCutter {
  readonly #startLine: string;
  readonly #endMarker: string;
  #started = false;
  /** Before the start line: the tail that may hold its beginning; after: what is not given out. */
  #pending = "";
  /** The last piece ended with "\r", held until the next one tells whether "\n" follows. */
  #carriage = false;

  /**
   * @param nonce The run's nonce, which the start and end lines carry.
   */
  constructor(nonce: string) {
    this.#startLine = `vmkit-job: start ${nonce}\n`;
    this.#endMarker = `vmkit-job: end ${nonce}`;
  }

  /**
   * Takes the next piece of the console's text.
   *
   * @param text The piece, decoded.
   * @returns The output it completes, `""` when none.
   */
  push(text: string): string {
    let piece = (this.#carriage ? "\r" : "") + text;
    this.#carriage = piece.endsWith("\r");
    if (this.#carriage) piece = piece.slice(0, -1);
    this.#pending += piece.replaceAll("\r\n", "\n");
    if (!this.#started) {
      const at = this.#pending.indexOf(this.#startLine);
      if (at < 0) {
        this.#pending = this.#pending.slice(-(this.#startLine.length - 1));
        return "";
      }
      this.#started = true;
      this.#pending = this.#pending.slice(at + this.#startLine.length);
    }
    const end = this.#pending.lastIndexOf(this.#endMarker);
    const upTo = end >= 0
      ? end
      : this.#pending.length - markerPrefixAtEnd(this.#pending, this.#endMarker);
    const out = this.#pending.slice(0, upTo);
    this.#pending = this.#pending.slice(upTo);
    return out;
  }
}

/** The length of the longest end of `text` that is a beginning of `marker` (shorter than it). */
function markerPrefixAtEnd(text: string, marker: string): number {
  for (let length = Math.min(marker.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(marker.slice(0, length))) return length;
  }
  return 0;
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
