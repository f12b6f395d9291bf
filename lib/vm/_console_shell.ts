// What `Console.exec` types into the guest's shell and how it reads the answer back: the default
// prompt, the commands it takes, the begin/end markers around a command's output, and a command
// too long for one editor line gathered into `VMKIT_C` a piece per line.

import { shellQuote } from "./qemu_opts.ts";
import type { ExecResult } from "./console_types.ts";

/** A shell prompt at the end of the output; busybox's line editor may add a cursor query. */
export const DEFAULT_PROMPT = new RegExp("[#$] (\u001b\\[6n)?$");

/**
 * Longest line typed into the guest's shell at once. busybox's line editor takes 1023 bytes
 * (`FEATURE_EDITING_MAX_LEN`) and drops the rest; a tty in canonical mode takes 4095. A longer
 * command is typed as several lines, each adding a piece to a shell variable.
 */
const LINE_BYTES = 768;
/** Longest command `exec` takes, once single-quoted. */
const MAX_COMMAND_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/**
 * Checks a command `exec` is given: not empty, no NUL, at most {@linkcode MAX_COMMAND_BYTES}
 * once single-quoted.
 *
 * @param command The command.
 * @throws {TypeError} When the command is empty or contains NUL.
 * @throws {RangeError} When the command is too long.
 */
export function checkCommand(command: string): void {
  if (typeof command !== "string" || command.trim() === "") {
    throw new TypeError(`Cannot exec ${JSON.stringify(command)}: the command is empty`);
  }
  if (command.includes("\0")) {
    throw new TypeError(`Cannot exec ${JSON.stringify(command)}: it contains NUL`);
  }
  const size = encoder.encode(shellQuote(command)).length;
  if (size > MAX_COMMAND_BYTES) {
    throw new RangeError(
      `Cannot exec a command of ${size} bytes once quoted: the console takes at most ${MAX_COMMAND_BYTES}; copy a script into the guest instead`,
    );
  }
}

/**
 * A token no other `exec` of this console uses, for its markers.
 *
 * @param count How many commands the console has run before.
 * @returns The token.
 */
export function execToken(count: number): string {
  return `${Date.now().toString(36)}${count.toString(36)}`;
}

/**
 * The patterns that find a command's output in the transcript. The markers are split by quotes
 * in what is typed ({@linkcode commandLines}), so the tty's echo never matches them.
 *
 * @param token The command's token.
 * @returns `done` matches the whole output (groups: the output, the exit status); `started`,
 *   the begin marker.
 */
export function execMarkers(token: string): { done: RegExp; started: RegExp } {
  const begin = `VMKIT_B${token}`;
  const end = `VMKIT_E${token}`;
  return {
    done: new RegExp(`${begin}\\r?\\n([^]*?)${end}:(\\d+)\\r?\\n`),
    started: new RegExp(`${begin}\\r?\\n`),
  };
}

/**
 * The result of a command from what `done` of {@linkcode execMarkers} matched.
 *
 * @param groups The output and the exit status.
 * @returns The output with `\n` line ends and no final newline, and the status.
 */
export function execResult(groups: string[]): ExecResult {
  const output = groups[0].replaceAll("\r\n", "\n").replace(/\n$/, "");
  return { output, exitCode: Number(groups[1]) };
}

/**
 * What `exec` types: one line that prints the begin marker, runs the command with `command
 * eval` and prints the end marker with its status. One line, so the shell reads all of it
 * before running any, and the tty's echo of it comes before the begin marker. `command eval`
 * runs the command in this shell (so `cd` and variables persist), and an error the shell would
 * abort the whole line for (a syntax error, `$((1/0))`, `${x?}`) becomes a non-zero status.
 * A command whose quoted form does not fit in one editor line is first gathered into
 * `VMKIT_C`, a piece per line; one with control characters is gathered with them as octal
 * escapes, which `printf %b` turns back.
 */
export function commandLines(command: string, token: string): string[] {
  const run = (script: string) =>
    `printf '%s\\n' VMKIT_B'${token}'; command eval ${script}; printf '%s:%s\\n' VMKIT_E'${token}' "$?"`;
  // Control characters (but newline) would be keys to the line editor: Tab completes, Ctrl-C
  // cancels, Escape starts a sequence. They travel as printf %b octal escapes instead.
  const encoded = CONTROL.test(command);
  const text = encoded
    ? command.replaceAll("\\", "\\\\").replace(
      CONTROL_ALL,
      (char) => `\\0${char.charCodeAt(0).toString(8).padStart(3, "0")}`,
    )
    : command;
  const quoted = shellQuote(text);
  if (!encoded && encoder.encode(run(quoted)).length <= LINE_BYTES) return [run(quoted) + "\n"];
  const lines: string[] = [];
  let piece = "";
  let pieceBytes = 0;
  const flush = () => {
    const value = shellQuote(piece);
    lines.push(lines.length === 0 ? `VMKIT_C=${value}\n` : `VMKIT_C="$VMKIT_C"${value}\n`);
    piece = "";
    pieceBytes = 0;
  };
  for (const char of text) {
    // Quoted, a ' takes four bytes; every piece adds two quotes and at most 18 bytes before it.
    const bytes = char === "'" ? 4 : encoder.encode(char).length;
    if (pieceBytes + bytes > LINE_BYTES - 32) flush();
    piece += char;
    pieceBytes += bytes;
  }
  if (piece !== "") flush();
  // The "_" keeps newlines at the end, which command substitution would drop.
  if (encoded) lines.push(`VMKIT_C=$(printf '%b_' "$VMKIT_C"); VMKIT_C=\${VMKIT_C%_}\n`);
  lines.push(`${run('"$VMKIT_C"')}; unset VMKIT_C\n`);
  return lines;
}

/** Control characters that would be keys to a line editor: all but newline. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x01-\x09\x0b-\x1f\x7f]/;
const CONTROL_ALL = new RegExp(CONTROL.source, "g");
