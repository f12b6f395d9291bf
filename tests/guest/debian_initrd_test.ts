import assert from "node:assert/strict";
import { debianGuest, image, vm } from "../../mod.ts";

/**
 * Boots the Debian kernel and initrd on an overlay of the image with `append`; util-linux's
 * `mount` as init prints the mounts and exits, and the kernel panics at the end of its init.
 * Returns the console's text once the panic shows.
 */
async function bootToPanic(append: string, dir: string, seed = false): Promise<string> {
  const debian = await debianGuest();
  const overlay = `${dir}/overlay.qcow2`;
  await Deno.remove(overlay).catch(() => {});
  await image.create(overlay, { backing: debian.image });
  const builder = vm({ arch: "x86_64" }).memory("512M")
    .kernel(debian.kernel, { initrd: debian.initrd, append })
    .drive(overlay);
  // The seed is a second virtio disk (vdb), holding an ISO 9660 filesystem labelled cidata.
  await using guest = await (seed ? builder.cloudInit() : builder).launch({ timeout: 30_000 });
  await guest.console.seen("Kernel panic - not syncing", { timeout: 60_000 });
  return guest.console.transcript;
}

Deno.test("the Debian guest's initrd mounts the root root= names (by LABEL= too), read-only unless rw, and starts init=", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const ro = await bootToPanic("root=LABEL=root ro init=/bin/mount", dir);
    assert.match(ro, /^\/dev\/vda on \/ type ext4 \(ro[,)]/m);
    const rw = await bootToPanic("root=/dev/vda rw init=/bin/mount", dir);
    assert.match(rw, /^\/dev\/vda on \/ type ext4 \(rw[,)]/m);
    // /dev, /proc and /sys moved into the new root, not left behind in the initrd.
    assert.match(rw, /^devtmpfs on \/dev type devtmpfs/m);
    assert.match(rw, /^proc on \/proc type proc/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Debian guest's initrd names a root it cannot find or mount, and lists the disks it sees with their labels and UUIDs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const disks =
    /vmkit initrd: the disks it sees:\nvmkit initrd: {3}\/dev\/vda: ext4 LABEL=root UUID=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\nvmkit initrd: {3}\/dev\/vdb: iso9660 labelled cidata\n/;
  try {
    const missing = await bootToPanic("root=LABEL=rootfs rootdelay=1", dir, true);
    assert.match(
      missing,
      /vmkit initrd: cannot mount the root filesystem: root=LABEL=rootfs did not appear within 1 s \(rootdelay=SECONDS waits longer\)\r?\n/,
    );
    assert.match(missing.replaceAll("\r", ""), disks);
    const seed = await bootToPanic("root=/dev/vdb rw", dir, true);
    assert.match(
      seed,
      /vmkit initrd: cannot mount the root filesystem: root=\/dev\/vdb holds iso9660 labelled cidata, not a filesystem this kernel mounts \([a-z0-9 ]*ext4[a-z0-9 ]*\): is it the right disk\?/,
    );
    assert.match(seed.replaceAll("\r", ""), disks);
    const partuuid = await bootToPanic("root=PARTUUID=6a1f3b52-8c1e-4d2a-9b3f-7e5d0c4a1b01", dir);
    assert.match(
      partuuid,
      /root=PARTUUID=6a1f3b52-8c1e-4d2a-9b3f-7e5d0c4a1b01 is not a device path, LABEL= or UUID= \(PARTUUID= needs Debian's own initrd\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
