import assert from "node:assert/strict";
import { cloudInit, debianGuest, image, vm } from "../../mod.ts";

Deno.test("the Debian guest boots from an overlay with a NoCloud seed: cloud-init names it and runs its commands, and the base stays untouched", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const before = await Deno.stat(debian.image);
    const overlay = `${dir}/overlay.qcow2`;
    await image.create(overlay, { backing: debian.image });
    const seed = cloudInit({
      userData: {
        write_files: [{ path: "/etc/vmkit-seeded", content: "from the seed\n" }],
        runcmd: ["echo VMKIT-RUNCMD-$(hostname)-$(cat /etc/vmkit-seeded) > /dev/ttyS0"],
      },
      metaData: { "local-hostname": "vmkit-seeded-vm" },
    });
    await seed.write(`${dir}/seed.iso`);
    {
      await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2)
        .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
        .drive(overlay)
        .drive(`${dir}/seed.iso`, { format: "raw", readOnly: true })
        .launch({ timeout: 60_000 });
      await machine.console.expect(/VMKIT-RUNCMD-vmkit-seeded-vm-from the seed/, {
        timeout: 240_000,
      });
      const result = await machine.shutdown({ timeout: 60_000 });
      assert.equal(result.method, "powerdown");
    }
    const after = await Deno.stat(debian.image);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    const info = await image.info(overlay);
    assert.equal(info.backing?.filename, debian.image);
    assert.ok((info.actualSize ?? 0) > 1024 * 1024, "the guest's writes went to the overlay");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
