import assert from "node:assert/strict";
import { cloudInit, debianGuest, image, vm } from "../../mod.ts";
import { SshClient } from "../../lib/ssh/client.ts";
import { forwardedPort } from "../../lib/ssh/forwarded_port.ts";
import { hostKeysFromConsole } from "../../lib/ssh/host_keys.ts";
import { generateSshKey } from "../../lib/ssh/key.ts";
import { writeKnownHosts } from "../../lib/ssh/known_hosts.ts";

Deno.test("ssh into the Debian guest: a port QEMU picked, the generated key in the seed, the host key learned from the console, checked strictly", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const key = await generateSshKey(dir, { comment: "vmkit@debian-ssh-test" });
    const overlay = `${dir}/overlay.qcow2`;
    await image.create(overlay, { backing: debian.image });
    await cloudInit({
      userData: { users: ["default"], ssh_authorized_keys: [key.publicKey] },
      metaData: { "local-hostname": "vmkit-ssh" },
    }).write(`${dir}/seed.iso`);
    const started = performance.now();
    const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
    await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2)
      .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
      .drive(overlay)
      .drive(`${dir}/seed.iso`, { format: "raw", readOnly: true })
      .network({ type: "user" })
      .launch({ timeout: 60_000 });
    // The builder takes host ports 1 to 65535; QEMU itself takes 0 and lets the OS pick.
    await machine.qmp.hmp("hostfwd_add net0 tcp:127.0.0.1:0-:22");
    const port = await forwardedPort(machine.qmp, { guestPort: 22, timeout: 10_000 });

    const knownHostsFile = `${dir}/known_hosts`;
    await using ssh = new SshClient({
      port,
      user: "debian",
      identity: key.privateKey,
      knownHostsFile,
      hostKeyAlias: "vmkit-ssh-test",
      runtimeDir: machine.runtimeDir,
    });
    const banner = await ssh.waitUntilReady({ timeout: 300_000 });
    assert.match(banner, /^SSH-2\.0-OpenSSH_9\.2p1 Debian/);
    console.log(`ssh banner after ${seconds()} s`);
    // Strict checking refuses the guest until its key is known.
    await Deno.writeTextFile(knownHostsFile, "");
    const unknown = await ssh.exec("true").then(() => undefined, (error) => error);
    assert.equal(unknown?.failure, "host-key", String(unknown));

    await machine.console.expect("-----END SSH HOST KEY KEYS-----", { timeout: 300_000 });
    console.log(`host keys on the console after ${seconds()} s`);
    const hostKeys = hostKeysFromConsole(machine.console.transcript);
    assert.equal(hostKeys.length, 1, "the image makes ed25519 host keys only");
    assert.match(hostKeys[0], /^ssh-ed25519 /);
    await writeKnownHosts(knownHostsFile, hostKeys, { hostKeyAlias: "vmkit-ssh-test" });

    const status = await ssh.exec("cloud-init status --wait", { timeout: 300_000 });
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /status: done/);
    const id = await ssh.exec("id -un");
    assert.deepEqual(id, { exitCode: 0, signaled: false, stdout: "debian\n", stderr: "" });
    const hostname = await ssh.exec(["cat", "/etc/hostname"]);
    assert.equal(hostname.stdout, "vmkit-ssh\n");
    // The guest's own record of its key is the one learned from the console.
    const own = await ssh.exec("cat /etc/ssh/ssh_host_ed25519_key.pub");
    assert.equal(
      own.stdout.trim().split(" ").slice(0, 2).join(" "),
      hostKeys[0].split(" ").slice(0, 2).join(" "),
    );

    // For the report: a command over the ControlMaster, and over a connection of its own.
    const time = async (client: SshClient) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await client.exec("true");
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[2].toFixed(0);
    };
    {
      await using direct = new SshClient({
        port,
        user: "debian",
        identity: key.privateKey,
        knownHostsFile,
        hostKeyAlias: "vmkit-ssh-test",
        multiplex: false,
      });
      console.log(
        `exec("true") median: ${await time(ssh)} ms through the ControlMaster, ${await time(
          direct,
        )} ms with a connection each`,
      );
    }
    await ssh.close();
    const result = await machine.shutdown({ timeout: 60_000 });
    assert.equal(result.method, "powerdown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
