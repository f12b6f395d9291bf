#!/usr/bin/env -S deno run -q -P=hotplug-disk
/**
 * Hot-adds a qcow2 disk to the running tiny guest, shows it in the guest, and removes it.
 * Needs `./scripts/setup.sh` first. Runs from any directory, with exactly the permissions of
 * its set in `deno.json` (`-P=hotplug-disk`).
 *
 * Usage: ./recipes/hotplug-disk.ts
 */
import { tinyGuest, vm } from "../mod.ts";
import { createImage, workDir } from "./_work_dir.ts";

await using work = await workDir("hotplug-disk", "/tmp/vmkit-hp");
const image = await createImage(`${work.path}/disk.qcow2`, "64M");

const guest = await tinyGuest("x86_64");
await using machine = await vm({ arch: "x86_64" }).memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd })
  .hotplugSlots(1)
  .launch({ runtimeDir: `${work.path}/vm` });
const show = async () => (await machine.console.exec("ls /sys/block")).output || "(none)";
console.log(`guest disks: ${await show()}`);

const started = performance.now();
const disk = await machine.addDisk(image);
let disks = await show();
for (let tries = 0; !disks.includes("vda"); tries++) {
  if (tries === 100) throw new Error(`the guest did not see the disk; it shows: ${disks}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  disks = await show();
}
console.log(
  `added ${disk.id} (${disk.format}, slot ${disk.port}) in ${
    (performance.now() - started).toFixed(0)
  } ms; guest disks: ${disks}`,
);
console.log((await machine.console.exec("cat /sys/block/vda/size")).output, "sectors");

await machine.removeDisk(disk.id);
console.log(`removed ${disk.id}; guest disks: ${await show()}`);
