// One progress line on stderr, redrawn in place; drawn only when asked and stderr is a terminal.
// Shared by image conversion and downloads, and by the emulators area's downloads.

const encoder = new TextEncoder();
const WIDTH = 30;

export interface ProgressLine {
  /** Redraws the line when the whole percent changed. */
  update(fraction: number, detail?: string): void;
  /** Ends the line, if one was drawn. */
  done(): void;
}

export function progressLine(label: string, asked: boolean | undefined): ProgressLine {
  const draw = asked === true && Deno.stderr.isTerminal();
  let last = -1;
  let drawn = false;
  return {
    update(fraction, detail) {
      if (!draw) return;
      const clamped = Math.min(Math.max(fraction, 0), 1);
      const percent = Math.floor(clamped * 100);
      if (percent === last) return;
      last = percent;
      const filled = Math.round(clamped * WIDTH);
      const bar = `${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}`;
      const line = `\r${label} [${bar}] ${String(percent).padStart(3)}%${
        detail ? ` ${detail}` : ""
      }`;
      Deno.stderr.writeSync(encoder.encode(line));
      drawn = true;
    },
    done() {
      if (drawn) Deno.stderr.writeSync(encoder.encode("\n"));
      drawn = false;
    },
  };
}
