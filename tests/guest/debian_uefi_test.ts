import assert from "node:assert/strict";
import { archProfile, debianGuest, fastKernelAppend, image, vm } from "../../mod.ts";

// One boot, about 1.5 min under TCG: OVMF, systemd-boot, then the same systemd and cloud-init as
// the kernel-booted image, seeded this time by a ConfigDrive (OpenStack's config-2) made at
// launch, with text user-data: the image's default user gets the VM's key through meta-data, and
// vm.ssh learns the guest's host key from cloud-init's console output.
Deno.test("the Debian guest's UEFI disk boots through OVMF and systemd-boot, takes a ConfigDrive seed with text user-data, and ssh learns its host key from the console", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const overlay = `${dir}/overlay.qcow2`;
    await image.create(overlay, { backing: debian.uefiImage });
    {
      await using guest = await vm({ arch: "x86_64" }).memory("1G").smp(2).firmware("uefi")
        .drive(overlay)
        .cloudInit({
          format: "configdrive",
          // What booted it and where its root came from: "efi" only when the firmware was
          // UEFI; the root on the disk's second (GPT) partition, found by its PARTUUID; the
          // datasource cloud-init chose.
          userData: `#cloud-config
runcmd:
  - echo "efi=$(test -d /sys/firmware/efi && echo yes) root=$(findmnt -no SOURCE /) entry=$(cat /sys/firmware/efi/efivars/LoaderEntrySelected-* 2>/dev/null | tr -cd '[:alnum:].') platform=$(cloud-init query platform)" > /run/vmkit-boot
`,
          metaData: { hostname: "vmkit-uefi" },
        })
        .ssh({ user: "debian" })
        .launch({ timeout: 60_000 });
      await guest.ready({ stages: ["ssh", "cloud-init"], timeout: 300_000 });
      const boot = await guest.ssh.exec("cat /run/vmkit-boot; id -un; hostname");
      assert.equal(
        boot.stdout,
        "efi=yes root=/dev/vda2 entry=debian.conf platform=configdrive\ndebian\nvmkit-uefi\n",
      );
      // The boot entry gives the kernel the options vmkit gives a kernel it boots itself.
      const cmdline = await guest.ssh.exec("cat /proc/cmdline");
      assert.ok(
        cmdline.stdout.trim().endsWith(
          ` rw console=ttyS0 ${fastKernelAppend(archProfile("x86_64"))}`,
        ),
        cmdline.stdout,
      );
      // The host key learned from the console is the guest's own.
      const own = await guest.ssh.exec("cat /etc/ssh/ssh_host_ed25519_key.pub");
      const known = await Deno.readTextFile(`${guest.runtimeDir}/ssh/known_hosts`);
      assert.equal(known.trim().split(" ")[2], own.stdout.trim().split(" ")[1]);
      const result = await guest.shutdown({ timeout: 120_000 });
      assert.equal(result.method, "powerdown");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
