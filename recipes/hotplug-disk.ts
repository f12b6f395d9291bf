#!/usr/bin/env -S deno run --allow-run=qemu-system-x86_64,qemu-img --allow-read=.cache/vmkit,/tmp/vmkit-hp --allow-write=/tmp/vmkit-hp --allow-net=unix:/tmp/vmkit-hp/vm/console.sock,unix:/tmp/vmkit-hp/vm/qmp.sock
/**
 * Hot-adds a qcow2 disk to the running tiny guest, shows it in the guest, and removes it.
 * Needs `./scripts/setup.sh` first.
 *
 * Usage: ./recipes/hotplug-disk.ts
 */
import { tinyGuest, vm } from "../mod.ts";

const work = "/tmp/vmkit-hp";
await Deno.mkdir(work).catch((error) => {
  if (error instanceof Deno.errors.AlreadyExists) {
    console.error(`hotplug-disk: ${work} exists; another run may be using it (remove it if not)`);
    Deno.exit(1);
  }
  throw error;
});
try {
  const image = `${work}/disk.qcow2`;
  const created = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "64M"],
  }).output();
  if (!created.success) throw new Error(`qemu-img create failed with code ${created.code}`);

  const guest = await tinyGuest("x86_64", { cacheDir: ".cache/vmkit" });
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .hotplugSlots(1)
    .launch({ runtimeDir: `${work}/vm` });
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
} finally {
  await Deno.remove(work, { recursive: true });
}
