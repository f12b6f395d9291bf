#!/usr/bin/env -S deno run --allow-read --allow-run
/**
 * Runs one binary of another architecture through QEMU user-mode emulation, without root and
 * without binfmt_misc, and exits with its exit code.
 *
 * Why these permissions: the binary's ELF header is read wherever the binary is (--allow-read),
 * and the emulator is one of 66 qemu-<target>[-static] names, more than a shebang line can list
 * (--allow-run).
 *
 * Usage: ./recipes/run-foreign.ts [--sysroot DIR] [--emulator PATH] [--emulator-dir DIR]
 *          <binary> [args...]
 */
import { parseArgs } from "node:util";
import { runForeign } from "../mod.ts";

const USAGE = `usage: run-foreign.ts [options] <binary> [args...]
  --sysroot DIR        the target's libraries, for dynamically linked binaries (qemu -L)
  --emulator PATH      use this qemu-<target> instead of searching
  --emulator-dir DIR   look for qemu-<target> in DIR first (repeatable), e.g. emulators.fetch's cache`;

// Options end at the binary: everything after it belongs to the binary.
const first = Deno.args.findIndex((arg, i) =>
  !arg.startsWith("-") && !["--sysroot", "--emulator", "--emulator-dir"].includes(Deno.args[i - 1])
);
const own = first === -1 ? Deno.args : Deno.args.slice(0, first);
const rest = first === -1 ? [] : Deno.args.slice(first);

function parse() {
  try {
    return parseArgs({
      args: own,
      options: {
        sysroot: { type: "string" },
        emulator: { type: "string" },
        "emulator-dir": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`run-foreign: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}
const values = parse();
if (values.help || rest.length === 0) {
  console.log(USAGE);
  Deno.exit(values.help ? 0 : 2);
}

try {
  const child = await runForeign(rest[0], rest.slice(1), {
    sysroot: values.sysroot,
    emulator: values.emulator,
    emulatorDirs: values["emulator-dir"],
  });
  Deno.exit((await child.status).code); // 128 + the signal number when a signal ended it
} catch (error) {
  console.error(`run-foreign: ${(error as Error).message}`);
  Deno.exit(127);
}
