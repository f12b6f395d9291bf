import assert from "node:assert/strict";
import { debianGuest, image, vm } from "../../mod.ts";

/** The ext4 state in the superblock of the image's filesystem: "clean" after a clean stop. */
async function filesystemState(overlay: string, dir: string): Promise<string> {
  const raw = `${dir}/root.raw`;
  const convert = await new Deno.Command("qemu-img", {
    args: ["convert", "-O", "raw", overlay, raw],
  }).output();
  assert.ok(convert.success, new TextDecoder().decode(convert.stderr));
  const dump = await new Deno.Command("dumpe2fs", { args: ["-h", raw], stderr: "null" }).output();
  await Deno.remove(raw);
  const state = /^Filesystem state:\s+(.+)$/m.exec(new TextDecoder().decode(dump.stdout));
  return state?.[1].trim() ?? "unknown";
}

Deno.test("the Debian guest end to end: a seed served over HTTP from launch, the agent, ssh with a host key known before boot, cloud-init done, a clean shutdown through the agent, and an untouched base", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const before = await Deno.stat(debian.image);
    const overlay = `${dir}/overlay.qcow2`;
    await image.create(overlay, { backing: debian.image });
    {
      await using guest = await vm({ arch: "x86_64" }).memory("1G").smp(2)
        .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
        .drive(overlay)
        .cloudInit({
          userData: {
            write_files: [{ path: "/etc/vmkit-seeded", content: "from the seed\n" }],
            runcmd: ["echo VMKIT-RUNCMD-$(hostname)-$(cat /etc/vmkit-seeded) > /dev/ttyS0"],
          },
          metaData: { "local-hostname": "vmkit-seeded-vm" },
          // Served over HTTP from launch (the SMBIOS serial names it), no seed disk.
          via: "http",
        })
        .ssh()
        .guestAgent()
        .launch({ timeout: 60_000 });
      const { stages } = await guest.ready({
        stages: ["agent", "ssh", "cloud-init"],
        timeout: 300_000,
      });
      assert.deepEqual(stages.map((s) => s.name), ["agent", "ssh", "cloud-init"]);
      await guest.console.expect(/VMKIT-RUNCMD-vmkit-seeded-vm-from the seed/, { timeout: 1000 });

      // ssh as the user the seed made, checked against the host key the seed gave.
      const who = await guest.ssh.exec("id -un; sudo -n id -un");
      assert.deepEqual([who.exitCode, who.stdout], [0, "vmkit\nroot\n"]);
      const hostKey = await guest.agent.readTextFile("/etc/ssh/ssh_host_ed25519_key.pub");
      const known = await Deno.readTextFile(`${guest.runtimeDir}/ssh/known_hosts`);
      assert.equal(
        known.trim().split(" ")[2],
        hostKey.trim().split(" ")[1],
        "the guest has the seed's host key",
      );
      const pasted = await new Deno.Command("sh", {
        args: ["-c", guest.ssh.command("hostname")],
        stdin: "null",
      }).output();
      assert.equal(new TextDecoder().decode(pasted.stdout), "vmkit-seeded-vm\n");

      const agentSaw = await guest.agent.exec(["cat", "/etc/vmkit-seeded"]);
      assert.equal(agentSaw.stdout, "from the seed\n");
      // A consistent point for a disk snapshot: the root filesystem frozen, then thawed.
      assert.ok(await guest.agent.fsfreeze() >= 1);
      assert.equal(await guest.agent.fsfreezeStatus(), "frozen");
      assert.ok(await guest.agent.fsthaw() >= 1);
      const result = await guest.shutdown({ timeout: 60_000 });
      assert.equal(result.method, "agent");
      // The guest powered itself off: vmkit waited for that, not only for qemu-ga to stop.
      assert.equal(result.reason, "guest-shutdown");
    }
    assert.equal(await filesystemState(overlay, dir), "clean");
    const after = await Deno.stat(debian.image);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    const info = await image.info(overlay);
    assert.equal(info.backing?.filename, debian.image);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
