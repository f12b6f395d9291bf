import assert from "node:assert/strict";
import { debianGuest, image, vm } from "../../mod.ts";

// One boot, about 1 min under TCG: OVMF, systemd-boot, then the same systemd and cloud-init as
// the kernel-booted image, seeded this time by a ConfigDrive (OpenStack's config-2) made at launch.
Deno.test("the Debian guest's UEFI disk boots through OVMF and systemd-boot from an overlay, runs a ConfigDrive seed's commands from the GPT root partition, and shuts down cleanly", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const overlay = `${dir}/overlay.qcow2`;
    await image.create(overlay, { backing: debian.uefiImage });
    await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2).firmware("uefi")
      .drive(overlay)
      .cloudInit({
        format: "configdrive",
        userData: {
          // What booted it and where its root came from: "efi" only when the firmware was
          // UEFI; the root on the disk's second (GPT) partition, found by its PARTUUID; the
          // datasource cloud-init chose.
          runcmd: [
            "echo VMKIT-UEFI-$(test -d /sys/firmware/efi && echo efi)-$(findmnt -no SOURCE /)-$(cat /sys/firmware/efi/efivars/LoaderEntrySelected-* 2>/dev/null | tr -cd '[:alnum:].')-$(cloud-init query platform)-$(hostname). > /dev/ttyS0",
          ],
        },
        metaData: { hostname: "vmkit-uefi" },
      })
      .launch({ timeout: 60_000 });
    const marker = await machine.console.expect(/VMKIT-UEFI-(\S*)\./, { timeout: 300_000 });
    assert.equal(marker.groups[0], "efi-/dev/vda2-debian.conf-configdrive-vmkit-uefi");
    const result = await machine.shutdown({ timeout: 120_000 });
    assert.equal(result.method, "powerdown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
