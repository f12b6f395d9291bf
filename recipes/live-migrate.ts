#!/usr/bin/env -S deno run -q -P=live-migrate
/**
 * Live-migrates the running tiny guest from one QEMU to another and runs a command on the
 * destination's console. Needs `./scripts/setup.sh` first.
 * Runs from any directory, with exactly its permission set in `deno.json` (`-P=live-migrate`).
 *
 * Usage: ./recipes/live-migrate.ts
 */
import { tinyGuest, vm } from "../mod.ts";
import { workDir } from "./_work_dir.ts";

await using work = await workDir("live-migrate", "/tmp/vm-m");
const guest = await tinyGuest("x86_64");
// Source and destination must be built alike; the destination waits with -incoming defer.
const builder = vm({ arch: "x86_64" }).memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd });
await using source = await builder.launch({ runtimeDir: `${work.path}/a` });
await source.console.exec("echo 'hello from the source' > /tmp/note");
console.log(`source (pid ${source.pid}) is ${await source.status()}`);
await using destination = await builder.incoming().launch({ runtimeDir: `${work.path}/b` });
console.log(`destination (pid ${destination.pid}) is ${await destination.status()}`);

const stats = await source.migrateTo(destination, { timeout: 120_000 });
console.log(
  `migrated ${
    (stats.transferredBytes / 2 ** 20).toFixed(1)
  } MiB in ${stats.totalTimeMs} ms, downtime ${stats.downtimeMs} ms`,
);
console.log(`source exited: ${source.hasExited}; destination is ${await destination.status()}`);
console.log(
  `destination$ cat /tmp/note\n${(await destination.console.exec("cat /tmp/note")).output}`,
);
