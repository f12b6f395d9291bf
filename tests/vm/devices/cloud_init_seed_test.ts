import assert from "node:assert/strict";
import { tinyGuest, vm, VmBuilder } from "../../../mod.ts";

const userData = { runcmd: ["true"] };

Deno.test("a seed made at launch is a read-only virtio disk labelled cidata, removed with the VM", async () => {
  const g = await tinyGuest("x86_64");
  let seedFile: string;
  {
    await using machine = await vm({ arch: "x86_64" }).memory("256M")
      .kernel(g.kernel, { initrd: g.initrd })
      .cloudInit({ userData, metaData: { "instance-id": "iid-disk" } })
      .launch({ timeout: 60_000 });
    seedFile = `${machine.runtimeDir}/seed.iso`;
    assert.equal((await Deno.stat(seedFile)).mode! & 0o777, 0o600);
    const run = async (command: string) => (await machine.console.exec(command)).output;
    // The only disk: vda, read-only, with the seed's ISO 9660 label.
    assert.equal(await run("cat /sys/block/vda/ro"), "1");
    assert.equal(await run("dd if=/dev/vda bs=1 skip=32808 count=6 2>/dev/null"), "cidata");
  }
  await assert.rejects(Deno.stat(seedFile), Deno.errors.NotFound);
});

Deno.test("a seed served over HTTP is named by the SMBIOS serial, reaches the guest, and stops with the VM", async () => {
  const g = await tinyGuest("x86_64");
  let url: string;
  {
    await using machine = await vm({ arch: "x86_64" }).memory("256M")
      .kernel(g.kernel, { initrd: g.initrd })
      .network({ type: "user" })
      .cloudInit({ userData, metaData: { "instance-id": "iid-http" }, via: "http" })
      .launch({ timeout: 60_000 });
    const run = async (command: string) => (await machine.console.exec(command)).output;
    const serial = await run("cat /sys/class/dmi/id/product_serial");
    assert.match(serial, /^ds=nocloud-net;s=http:\/\/10\.0\.2\.2:\d+\/$/);
    url = serial.replace(/^.*;s=/, "");
    assert.match(await run(`wget -q -O - ${url}meta-data`), /^instance-id: iid-http$/m);
    assert.match(await run(`wget -q -O - ${url}user-data`), /^#cloud-config\nruncmd:/);
  }
  const port = Number(new URL(url).port);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("a seed and ssh in a JSON description round-trip, and their mistakes say what to do", () => {
  const built = vm({ arch: "x86_64" }).cloudInit({ userData, via: "disk" }).ssh({ user: "debian" });
  const description = built.toJSON();
  assert.deepEqual(description.networks, [{
    type: "user",
    forwards: [{ hostPort: 0, guestPort: 22 }],
  }]);
  assert.deepEqual(
    VmBuilder.fromJSON(description).toArgv({ runtimeDir: "/r" }),
    built.toArgv({ runtimeDir: "/r" }),
  );
  // .ssh() keeps a forward to 22 that is there, and adds one to the first user network.
  const kept = vm({ arch: "x86_64" }).network({
    type: "user",
    forwards: [{ hostPort: 2222, guestPort: 22 }],
  })
    .cloudInit({ userData }).ssh().toJSON();
  assert.deepEqual(kept.networks?.[0], {
    type: "user",
    forwards: [{ hostPort: 2222, guestPort: 22 }],
  });
  const read = (devices: unknown[], networks: unknown[] = []) => () =>
    VmBuilder.fromJSON({ arch: "x86_64", devices, networks }).toArgv();
  assert.throws(
    read([{ kind: "ssh" }]),
    /no user-mode network forwards a host port to guest port 22/,
  );
  assert.throws(
    read([{ kind: "ssh" }], [{ type: "user", forwards: [{ hostPort: 0, guestPort: 22 }] }]),
    /reaches the guest through the cloud-init seed; add \.cloudInit/,
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).cloudInit({ userData: "#!/bin/sh\ntrue\n" }).ssh().toArgv(),
    /user-data is text, which vmkit does not edit; give \.ssh\(\{ user \}\)/,
  );
  assert.throws(read([{ kind: "cloud-init", via: "http" }]), /has no user-mode network/);
  assert.throws(
    () => vm({ arch: "x86_64" }).cloudInit({ userData }).ssh({ user: "root" }).toArgv(),
    /Cannot add ssh user "root": cloud-init refuses root logins/,
  );
  vm({ arch: "x86_64" }).cloudInit({ userData: { disable_root: false } }).ssh({ user: "root" })
    .toArgv();
  assert.throws(
    () =>
      vm({ arch: "x86_64" }).network({ type: "user" }).smbios({ type: 1, serial: "x" })
        .cloudInit({ via: "http" }).toArgv(),
    /sets SMBIOS type 1 already/,
  );
  assert.throws(
    read([{ kind: "cloud-init", userData: "hello" }]),
    /devices\[0\].*which cloud-init ignores/,
  );
  assert.throws(read([{ kind: "cloud-init", via: "ftp" }]), /devices\[0\]\.via/);
  assert.throws(read([{ kind: "ssh", user: "Root" }]), /devices\[0\]\.user to "Root"/);
});
