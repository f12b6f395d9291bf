#!/usr/bin/env -S deno run --allow-run=qemu-system-x86_64,qemu-system-aarch64 --allow-read=.cache/vmkit,/tmp/vmkit-demo --allow-write=/tmp/vmkit-demo --allow-net=unix:/tmp/vmkit-demo/console.sock,unix:/tmp/vmkit-demo/qmp.sock --allow-env=VMKIT_ACCEL
/**
 * The main job: boot the tiny guest, run commands on its console, ask QMP for its status, and
 * shut it down, printing the times. Needs `./scripts/setup.sh` first.
 *
 * Usage: ./recipes/demo.ts [--arch x86_64|aarch64]
 */
import { parseArgs } from "node:util";
import { tinyGuest, type TinyGuestArch, vm } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { arch: { type: "string", default: "x86_64" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log("usage: demo.ts [--arch x86_64|aarch64]");
  Deno.exit(0);
}
const arch = values.arch as TinyGuestArch;
const guest = await tinyGuest(arch, { cacheDir: ".cache/vmkit" });

const started = performance.now();
await using machine = await vm({ arch })
  .memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd })
  .launch({ runtimeDir: "/tmp/vmkit-demo" });
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
