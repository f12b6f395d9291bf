import assert from "node:assert/strict";
import { debianGuest } from "../../lib/guest/debian_guest.ts";
import { cloudInit } from "../../lib/guest/cloud_init.ts";
import { createImage } from "../../lib/image/create.ts";
import { vm } from "../../lib/vm/builder.ts";

// One boot, about 2 min under TCG: OVMF, systemd-boot, then the same systemd and cloud-init as
// the kernel-booted image.
Deno.test("the Debian guest's UEFI disk boots through OVMF and systemd-boot from an overlay, runs its seed from the GPT root partition, and shuts down cleanly", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const overlay = `${dir}/overlay.qcow2`;
    await createImage(overlay, { backing: debian.uefiImage });
    await cloudInit({
      userData: {
        // What booted it and where its root came from: "efi" only when the firmware was UEFI;
        // the root on the disk's second (GPT) partition, found by its PARTUUID.
        runcmd: [
          "echo VMKIT-UEFI-$(test -d /sys/firmware/efi && echo efi)-$(findmnt -no SOURCE /)-$(cat /sys/firmware/efi/efivars/LoaderEntrySelected-* 2>/dev/null | tr -cd '[:alnum:].') > /dev/ttyS0",
        ],
      },
      metaData: { "local-hostname": "vmkit-uefi" },
    }).write(`${dir}/seed.iso`);
    await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2).firmware("uefi")
      .drive(overlay)
      .drive(`${dir}/seed.iso`, { format: "raw", readOnly: true })
      .launch({ timeout: 60_000 });
    const marker = await machine.console.expect(/VMKIT-UEFI-(\S*)/, { timeout: 300_000 });
    assert.equal(marker.groups[0], "efi-/dev/vda2-debian.conf");
    const result = await machine.shutdown({ timeout: 120_000 });
    assert.equal(result.method, "powerdown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
