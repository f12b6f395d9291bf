#!/usr/bin/env -S deno run -q -P=snapshot
/**
 * Saves a snapshot of the running tiny guest, changes a file, loads the snapshot and reads the
 * file as it was. Needs `./scripts/setup.sh` first.
 * Runs from any directory, with exactly its permission set in `deno.json` (`-P=snapshot`).
 *
 * Usage: ./recipes/snapshot.ts
 */
import { tinyGuest, vm } from "../mod.ts";
import { createImage, workDir } from "./_work_dir.ts";

await using work = await workDir("snapshot", "/tmp/vmkit-snap");
// Snapshots live in qcow2 images: the VM state goes into this one.
const image = await createImage(`${work.path}/state.qcow2`, "128M");

const guest = await tinyGuest("x86_64");
await using machine = await vm({ arch: "x86_64" }).memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd })
  .drive(image, { format: "qcow2" })
  .launch({ runtimeDir: `${work.path}/vm` });
const cat = async () => (await machine.console.exec("cat /tmp/note")).output;

await machine.console.exec("echo 'written before the snapshot' > /tmp/note");
let started = performance.now();
const snapshot = await machine.saveSnapshot("before");
console.log(
  `saved "${snapshot.tag}" (${(snapshot.vmStateSize / 2 ** 20).toFixed(1)} MiB of VM state) in ${
    (performance.now() - started).toFixed(0)
  } ms`,
);
await machine.console.exec("echo 'written after the snapshot' > /tmp/note");
console.log(`now: ${await cat()}`);
started = performance.now();
await machine.loadSnapshot("before");
console.log(`loaded "before" in ${(performance.now() - started).toFixed(0)} ms`);
console.log(`now: ${await cat()}`);
await machine.deleteSnapshot("before");
console.log(`snapshots left: ${(await machine.snapshots()).length}`);
