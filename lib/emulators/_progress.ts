// A one-line progress bar on stderr, redrawn in place; used only when stderr is a terminal.

const encoder = new TextEncoder();
const WIDTH = 30;

export interface ProgressBar {
  update(received: number, total: number): void;
  done(): void;
}

export function progressBar(label: string): ProgressBar {
  let last = -1;
  let drawn = false;
  return {
    update(received, total) {
      const fraction = total === 0 ? 1 : Math.min(received / total, 1);
      const percent = Math.floor(fraction * 100);
      if (percent === last) return;
      last = percent;
      const filled = Math.round(fraction * WIDTH);
      const mb = (n: number) => (n / 1e6).toFixed(1);
      const line = `\r${label} [${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${
        String(percent).padStart(3)
      }% ${mb(received)}/${mb(total)} MB`;
      Deno.stderr.writeSync(encoder.encode(line));
      drawn = true;
    },
    done() {
      if (drawn) Deno.stderr.writeSync(encoder.encode("\n"));
      drawn = false;
    },
  };
}
