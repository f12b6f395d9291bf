/**
 * Option readers of the instance commands: `--timeout` and repeated options.
 *
 * @module
 */

import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";

/** Reads `--timeout`: seconds, or a number with s, m or h. */
export function seconds(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(value);
  const factor = { s: 1, m: 60, h: 3600 }[(match?.[2] ?? "s").toLowerCase() as "s" | "m" | "h"];
  const ms = match === null ? NaN : Math.round(Number(match[1]) * factor * 1000);
  if (!(ms >= 0) || ms > 2 ** 31 - 1) {
    throw new CliError(
      `Cannot use --timeout ${
        JSON.stringify(value)
      }: give seconds (90), or a number with s, m or h (5m), under 24 days`,
      EXIT.usage,
    );
  }
  return ms;
}

/** Collects a repeated option's values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...previous ?? [], value];
}
