// The values of flags several commands share (--memory, --cpus, --timeout, --arch), read with
// the mistakes people make named: "--memory 1 GB" is 1 MiB and a stray "GB".

import { parseSize } from "../vm/size.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/** The least memory a Linux guest boots in; below it the kernel panics before init. */
const MIN_MEMORY = 32 * 2 ** 20;

/**
 * Reads `--memory` as QEMU's `-m` does (a bare number is MiB), refusing what cannot boot.
 *
 * @param value The flag's value.
 * @returns The size in MiB, as `"<n>M"`.
 * @throws {CliError} (usage) For a size that is not one, or less than 32 MiB.
 */
export function memoryFlag(value: string): string {
  let bytes: number;
  try {
    bytes = parseSize("--memory", value);
  } catch (error) {
    throw new CliError(
      `Cannot use --memory ${JSON.stringify(value)}: ${
        (error as Error).message.replace(/^Cannot set --memory to "[^"]*": /, "")
      }; write the number and unit as one word, like 512M or 1G`,
      EXIT.usage,
    );
  }
  if (bytes < MIN_MEMORY) {
    const bare = /^\s*\d+(\.\d+)?\s*$/.test(value);
    throw new CliError(
      `Cannot use --memory ${JSON.stringify(value)}: that is ${
        bytes / 2 ** 20
      } MiB, too little to boot Linux (at least 32M)${
        bare
          ? "; a number without a unit is MiB, and the unit goes in the same word: 1G, not 1 GB"
          : ""
      }`,
      EXIT.usage,
    );
  }
  return `${bytes / 2 ** 20}M`;
}

/**
 * Reads `--cpus`.
 *
 * @param value The flag's value.
 * @returns The CPU count, 1 to 64.
 * @throws {CliError} (usage) For anything but a whole number from 1 to 64.
 */
export function cpusFlag(value: string): number {
  const count = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    throw new CliError(
      `Cannot use --cpus ${JSON.stringify(value)}: give a whole number from 1 to 64`,
      EXIT.usage,
    );
  }
  return count;
}

/**
 * Reads `--timeout`: seconds, or a number with `s`, `m` or `h`.
 *
 * @param value The flag's value, such as `90`, `90s` or `5m`.
 * @returns Milliseconds.
 * @throws {CliError} (usage) For anything else, or 0.
 */
export function timeoutFlag(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(value);
  const factor = { s: 1, m: 60, h: 3600 }[(match?.[2] ?? "s").toLowerCase() as "s" | "m" | "h"];
  const ms = match === null ? NaN : Math.round(Number(match[1]) * factor * 1000);
  if (!(ms > 0) || ms > 2 ** 31 - 1) {
    throw new CliError(
      `Cannot use --timeout ${
        JSON.stringify(value)
      }: give seconds (90), or a number with s, m or h (5m), more than 0 and under 24 days`,
      EXIT.usage,
    );
  }
  return ms;
}

/** The architectures vmkit's tiny guest exists for, as `--arch` takes them. */
export const GUEST_ARCHES = ["x86_64", "aarch64"] as const;

/** An architecture `--arch` takes. */
export type GuestArch = typeof GUEST_ARCHES[number];

/** Other spellings people type for them: Debian's and Go's. */
const ARCH_ALIASES: Readonly<Record<string, GuestArch>> = {
  amd64: "x86_64",
  x64: "x86_64",
  arm64: "aarch64",
};

/**
 * Reads `--arch`, taking Debian's spellings too (`amd64`, `arm64`).
 *
 * @param value The flag's value.
 * @returns The architecture.
 * @throws {CliError} (usage) For another one.
 */
export function archFlag(value: string): GuestArch {
  const name = value.trim().toLowerCase();
  const arch = (GUEST_ARCHES as readonly string[]).includes(name)
    ? name as GuestArch
    : ARCH_ALIASES[name];
  if (arch === undefined) {
    throw new CliError(
      `Cannot use --arch ${JSON.stringify(value)}: give ${GUEST_ARCHES.join(" or ")}`,
      EXIT.usage,
    );
  }
  return arch;
}
