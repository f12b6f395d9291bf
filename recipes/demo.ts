#!/usr/bin/env -S deno run -q -P=demo
/**
 * The main job: boot the tiny guest, run commands on its console, ask QMP for its status, and
 * shut it down, printing the times. Needs `./scripts/setup.sh` first.
 * Runs from any directory, with exactly its permission set in `deno.json` (`-P=demo`).
 *
 * Usage: ./recipes/demo.ts [--arch x86_64|aarch64]
 */
import { parseArgs } from "node:util";
import { tinyGuest, type TinyGuestArch, vm } from "../mod.ts";

const USAGE = "usage: demo.ts [--arch x86_64|aarch64]";
const ARCHES: readonly TinyGuestArch[] = ["x86_64", "aarch64"];

function fail(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  Deno.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: { arch: { type: "string", default: "x86_64" }, help: { type: "boolean", short: "h" } },
  }));
} catch (error) {
  fail(`Cannot parse the flags: ${(error as Error).message}`);
}
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const arch = values.arch as TinyGuestArch;
if (!ARCHES.includes(arch)) {
  fail(`Cannot boot the tiny guest for arch ${JSON.stringify(values.arch)}: use x86_64 or aarch64`);
}
let guest;
try {
  guest = await tinyGuest(arch);
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
  console.error(`demo: ${error.message}`);
  Deno.exit(1);
}

const started = performance.now();
const builder = vm({ arch }).memory("256M").kernel(guest.kernel, { initrd: guest.initrd });
let launched;
try {
  launched = await builder.launch({ runtimeDir: "/tmp/vmkit-demo" });
} catch (error) {
  // Another demo runs, or a killed one left its directory: say so, without a stack trace.
  if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  console.error(`demo: ${error.message}: rm -r /tmp/vmkit-demo`);
  Deno.exit(1);
}
await using machine = launched;
console.log(`accelerator: ${machine.accel.accel} (${machine.accel.reason})`);

const uname = await machine.console.exec("uname -a");
const bootMs = performance.now() - started;
console.log(`$ uname -a\n${uname.output}`);
// The guest's init loads only the drivers of the devices this VM has.
const modules = await machine.console.exec("cat /proc/uptime; cut -d' ' -f1 /proc/modules");
console.log(`$ cat /proc/uptime; cut -d' ' -f1 /proc/modules\n${modules.output}`);
console.log("query-status:", JSON.stringify(await machine.qmp.execute("query-status")));
console.log(`boot to first command: ${bootMs.toFixed(0)} ms`);

const shutdown = await machine.shutdown();
console.log(
  `shutdown: ${shutdown.method} in ${
    shutdown.durationMs.toFixed(0)
  } ms (exit code ${shutdown.exit.code})`,
);
