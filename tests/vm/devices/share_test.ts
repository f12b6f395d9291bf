import assert from "node:assert/strict";
import { tinyGuestWith } from "../_guest.ts";
import { type Vm, vm, VmBuilder } from "../../../mod.ts";
import { settledWithin } from "../../../lib/_deadline.ts";
import { jsonOptions } from "../_argv.ts";
import { scratchDir } from "../_disks.ts";

const RUNTIME = { accel: "tcg", runtimeDir: "/tmp/vmkit-share" } as const;
const SHARED = { backend: { type: "memfd", share: true } } as const;

/** The `-fsdev`, `-chardev` and `-device` options a builder has that a bare VM has not. */
function shareArgv(builder: VmBuilder): string[] {
  const base = new Set(vm({ arch: builder.arch }).toArgv(RUNTIME));
  const argv = builder.toArgv(RUNTIME);
  return argv.flatMap((arg, i) =>
    ["-fsdev", "-chardev", "-device"].includes(arg) && !base.has(argv[i + 1])
      ? [arg, argv[i + 1]]
      : []
  );
}

/** Runs a guest command that must succeed, and returns its output. */
async function run(machine: Vm, command: string): Promise<string> {
  const { output, exitCode } = await machine.console.exec(command);
  assert.equal(exitCode, 0, `${command}: ${output}`);
  return output;
}

Deno.test("a 9p share is an escaped -fsdev option list and a virtio-9p device with its mount tag", () => {
  const builder = vm({ arch: "aarch64" })
    .device({ kind: "9p", path: "/srv/a,b", tag: "src" })
    .device({
      kind: "9p",
      path: "/srv/ro",
      tag: "ro.data",
      readOnly: true,
      securityModel: "mapped-xattr",
      id: "data",
    });
  assert.deepEqual(shareArgv(builder), [
    "-fsdev",
    "local,id=share0,path=/srv/a,,b,security_model=none",
    "-device",
    '{"driver":"virtio-9p-pci","id":"share0","fsdev":"share0","mount_tag":"src"}',
    "-fsdev",
    "local,id=data,path=/srv/ro,security_model=mapped-xattr,readonly=on",
    "-device",
    '{"driver":"virtio-9p-pci","id":"data","fsdev":"data","mount_tag":"ro.data"}',
  ]);
  // s390x has no PCI by default: the share rides the channel subsystem.
  const s390 = vm({ arch: "s390x" }).device({ kind: "9p", path: "/srv", tag: "src" });
  assert.deepEqual(jsonOptions(s390.toArgv(RUNTIME), "-device").at(-1), {
    driver: "virtio-9p-ccw",
    id: "share0",
    fsdev: "share0",
    mount_tag: "src",
  });
});

Deno.test("VmBuilder.fromJSON gives a 9p share the same command line as the builder", () => {
  const share = { kind: "9p", path: "/srv/src", tag: "src", readOnly: true } as const;
  const fromJson = VmBuilder.fromJSON({ arch: "aarch64", devices: [share] });
  const built = vm({ arch: "aarch64" }).device(share);
  assert.deepEqual(fromJson.toArgv(RUNTIME), built.toArgv(RUNTIME));
  assert.deepEqual(built.toJSON().devices, [share]);
  assert.ok(
    built.toArgv(RUNTIME).includes("local,id=share0,path=/srv/src,security_model=none,readonly=on"),
  );
});

Deno.test("a virtiofs device is a socket chardev and a vhost-user-fs device on a VM with shared memory", () => {
  const device = {
    kind: "virtiofs",
    socket: "/run/vfs,1.sock",
    tag: "host",
    queueSize: 1024,
  } as const;
  const builder = vm({ arch: "aarch64" }).memory("256M", SHARED).device(device);
  assert.deepEqual(shareArgv(builder), [
    "-chardev",
    "socket,id=virtiofs0-chr,path=/run/vfs,,1.sock,server=off",
    "-device",
    '{"driver":"vhost-user-fs-pci","id":"virtiofs0","chardev":"virtiofs0-chr","tag":"host","queue-size":1024}',
  ]);
  const s390 = vm({ arch: "s390x" }).memory("256M", SHARED).device({ ...device, id: "fs" });
  assert.deepEqual(jsonOptions(s390.toArgv(RUNTIME), "-device").at(-1), {
    driver: "vhost-user-fs-ccw",
    id: "fs",
    chardev: "fs-chr",
    tag: "host",
    "queue-size": 1024,
  });
});

Deno.test("a virtiofs device on a VM without shared memory is refused, naming both and the fix", () => {
  const builder = vm({ arch: "aarch64" }).device({
    kind: "virtiofs",
    socket: "/run/v.sock",
    tag: "host",
  });
  assert.throws(() => builder.toArgv(RUNTIME), {
    name: "TypeError",
    message:
      'Cannot add virtiofs device "virtiofs0" (tag "host"): virtiofsd maps guest memory, and the VM has no shared memory backend; use .memory(size, { backend: { type: "memfd", share: true } })',
  });
  // Memory that is not shared does not do either.
  assert.throws(
    () => builder.memory("256M", { backend: { type: "memfd" } }).toArgv(RUNTIME),
    /no shared memory backend/,
  );
});

Deno.test("share values QEMU or the guest cannot take are refused, naming the field", () => {
  const nineP = (fields: Record<string, unknown>) =>
    vm({ arch: "aarch64" }).device({ kind: "9p", path: "/srv", tag: "src", ...fields } as never);
  const virtiofs = (fields: Record<string, unknown>) =>
    vm({ arch: "aarch64" }).device(
      { kind: "virtiofs", socket: "/run/v.sock", tag: "v", ...fields } as never,
    );

  // Tags: QEMU's limits are 31 bytes (9p mount_tag) and 36 (virtiofs); both take the longest.
  nineP({ tag: "a".repeat(31) });
  virtiofs({ tag: "a".repeat(36) });
  assert.throws(() => nineP({ tag: "a".repeat(32) }), {
    name: "RangeError",
    message: `Cannot set 9p tag to "${
      "a".repeat(32)
    }": it is 32 bytes, and QEMU's mount_tag holds at most 31; use a shorter tag`,
  });
  assert.throws(() => virtiofs({ tag: "a".repeat(37) }), {
    name: "RangeError",
    message: `Cannot set virtiofs tag to "${
      "a".repeat(37)
    }": it is 37 bytes, and QEMU's virtiofs tag holds at most 36; use a shorter tag`,
  });
  for (const tag of ["my share", "a,b", "", "é"]) {
    assert.throws(() => nineP({ tag }), {
      name: "TypeError",
      message: `Cannot set 9p tag to ${
        JSON.stringify(tag)
      }: use letters, digits, "_", "." and "-" (the guest mounts the share by this name)`,
    });
  }
  assert.throws(() => nineP({ tag: 7 }), /Cannot set 9p tag to 7: expected a string/);

  // Paths.
  assert.throws(() => nineP({ path: "/srv\n/x" }), {
    name: "TypeError",
    message: 'Cannot set 9p path to "/srv\\n/x": newline and NUL are not allowed',
  });
  assert.throws(() => nineP({ path: "" }), {
    message: 'Cannot set 9p path to "": the path is empty',
  });
  assert.throws(
    () => virtiofs({ socket: `/tmp/${"s".repeat(110)}` }),
    /Cannot use virtiofs socket ".*": it is 115 bytes, and a unix socket path holds at most 107/,
  );

  // Other fields.
  assert.throws(() => nineP({ securityModel: "mapped" }), {
    message:
      'Cannot set 9p securityModel to "mapped": use "none", "passthrough", "mapped-xattr", "mapped-file"',
  });
  assert.throws(
    () => nineP({ readOnly: "yes" }),
    /Cannot set 9p readOnly to "yes": use true or false/,
  );
  assert.throws(() => nineP({ id: "vmkit-x" }), /Cannot use 9p share id "vmkit-x"/);
  assert.throws(() => nineP({ writable: true }), {
    name: "TypeError",
    message:
      'Cannot add 9p device: unknown field "writable"; use "path", "tag", "securityModel", "readOnly", "id"',
  });
  assert.throws(
    () =>
      VmBuilder.fromJSON({
        arch: "aarch64",
        devices: [{ kind: "9p", path: "/srv", tag: "s", mode: 1 } as never],
      }),
    /unknown field "mode"/,
  );
  assert.throws(
    () =>
      VmBuilder.fromJSON({
        arch: "aarch64",
        devices: [{ kind: "9p", path: "/srv", tag: "a".repeat(32) }],
      }),
    /devices\[0\]\.tag to "a{32}": it is 32 bytes/,
  );
  for (
    const [queueSize, rule] of [
      [3, "a power of 2"],
      [0, "a whole number"],
      [2048, "a whole number"],
      [1.5, "a whole number"],
    ] as const
  ) {
    assert.throws(() => virtiofs({ queueSize }), {
      name: "RangeError",
      message: `Cannot set virtiofs queueSize to ${queueSize}: use ${rule} from 1 to 1024`,
    });
  }

  // Two shares the guest could not tell apart, or with one id.
  assert.throws(
    () => nineP({}).device({ kind: "9p", path: "/other", tag: "src" }),
    /^TypeError: Cannot add 9p device: 9p tag "src" is used by both 9p device 0 and 9p device 1$/,
  );
  assert.throws(
    () => nineP({ id: "fs" }).device({ kind: "9p", path: "/other", tag: "other", id: "fs" }),
    /Cannot add 9p device: .*id "fs".* 9p device [01]\b.* 9p device [01]$/,
  );
  // The same tag over 9p and virtiofs is two filesystems the guest tells apart by type.
  const both = nineP({ tag: "v" }).memory("256M", SHARED);
  both.device({ kind: "virtiofs", socket: "/run/v.sock", tag: "v" }).toArgv(RUNTIME);
});

Deno.test("launch names a missing 9p directory, a file given as one, and a missing virtiofs socket, with what to do", async () => {
  await using dir = await scratchDir();
  await Deno.writeTextFile(`${dir.path}/file`, "");
  await assert.rejects(
    () =>
      vm({ arch: "aarch64" }).device({ kind: "9p", path: `${dir.path}/gone`, tag: "src" }).launch(),
    {
      name: "NotFound",
      message:
        `Cannot launch VM: 9p share "src" "${dir.path}/gone" does not exist; share a directory that exists`,
    },
  );
  await assert.rejects(
    () =>
      vm({ arch: "aarch64" }).device({ kind: "9p", path: `${dir.path}/file`, tag: "src" }).launch(),
    {
      name: "TypeError",
      message:
        `Cannot launch VM: 9p share "src" "${dir.path}/file" is not a directory; share a directory that exists`,
    },
  );
  const socket = `${dir.path}/vfs.sock`;
  await assert.rejects(
    () =>
      vm({ arch: "aarch64" }).memory("256M", SHARED).device({
        kind: "virtiofs",
        socket,
        tag: "host",
      }).launch(),
    {
      name: "NotFound",
      message:
        `Cannot launch VM: virtiofs socket of tag "host" "${socket}" does not exist; start virtiofsd first, as root: /usr/lib/qemu/virtiofsd --socket-path=${socket} -o source=DIR (Debian 12 has no virtiofsd package; that one is QEMU's, in qemu-system-common)`,
    },
  );
});

Deno.test("an aarch64 guest mounts a 9p share, reads the host's file, writes its own as the host user, and cannot write a read-only share", async () => {
  await using dir = await scratchDir();
  const rw = `${dir.path}/rw`;
  const ro = `${dir.path}/ro`;
  await Deno.mkdir(rw);
  await Deno.mkdir(ro);
  await Deno.writeTextFile(`${rw}/host.txt`, "written by the host\n");
  await Deno.writeTextFile(`${ro}/keep.txt`, "read only\n");
  const guest = await tinyGuestWith("aarch64", dir.path, { boot: ["9pnet_virtio", "9p"] });

  await using machine = await vm({ arch: "aarch64" })
    .memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .device({ kind: "9p", path: rw, tag: "rw" })
    .device({ kind: "9p", path: ro, tag: "ro", readOnly: true })
    .launch({ timeout: 60_000 });
  await run(machine, "mkdir -p /mnt/rw /mnt/ro");
  await run(machine, "mount -t 9p -o trans=virtio,version=9p2000.L rw /mnt/rw");
  await run(machine, "mount -t 9p -o trans=virtio,version=9p2000.L ro /mnt/ro");
  assert.equal(await run(machine, "cat /mnt/rw/host.txt"), "written by the host");

  // The guest's file lands on the host with the guest's mode (umask 022), owned by whoever runs
  // QEMU: the user can read, change and delete it without sudo.
  await run(machine, "echo written by the guest > /mnt/rw/guest.txt && mkdir /mnt/rw/dir");
  assert.equal(await Deno.readTextFile(`${rw}/guest.txt`), "written by the guest\n");
  const file = await Deno.stat(`${rw}/guest.txt`);
  assert.equal(file.uid, Deno.uid());
  assert.equal(file.mode! & 0o777, 0o644);
  const subdir = await Deno.stat(`${rw}/dir`);
  assert.ok(subdir.isDirectory);
  assert.equal(subdir.uid, Deno.uid());
  assert.equal(subdir.mode! & 0o777, 0o755);

  // The read-only share reads, and refuses every write.
  assert.equal(await run(machine, "cat /mnt/ro/keep.txt"), "read only");
  const write = await machine.console.exec("echo x > /mnt/ro/new.txt");
  assert.notEqual(write.exitCode, 0);
  assert.match(write.output, /Read-only file system/);
  const remove = await machine.console.exec("rm /mnt/ro/keep.txt");
  assert.notEqual(remove.exitCode, 0);
  assert.match(remove.output, /Read-only file system/);
  const left = await Array.fromAsync(Deno.readDir(ro), (entry) => entry.name);
  assert.deepEqual(left, ["keep.txt"]);
});

const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}

const canRunVirtiofsd = Deno.uid() === 0 &&
  await Deno.stat(VIRTIOFSD).then((info) => info.isFile, () => false);

Deno.test({
  name: "an aarch64 guest mounts a virtiofs share served by QEMU's virtiofsd and writes to it",
  ignore: !canRunVirtiofsd,
  async fn() {
    await using dir = await scratchDir();
    const source = `${dir.path}/src`;
    await Deno.mkdir(source);
    await Deno.writeTextFile(`${source}/host.txt`, "over virtiofs\n");
    const guest = await tinyGuestWith("aarch64", dir.path, { boot: ["virtiofs"] });
    const socket = `${dir.path}/vfs.sock`;
    // virtiofsd serves one VM, and exits when it disconnects.
    const virtiofsd = new Deno.Command(VIRTIOFSD, {
      args: [`--socket-path=${socket}`, "-o", `source=${source}`, "-o", "cache=none"],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new Response(virtiofsd.stderr).text();
    try {
      for (let i = 0; i < 250 && !(await exists(socket)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(await exists(socket), `virtiofsd made no socket in 5 s`);
      await using machine = await vm({ arch: "aarch64" })
        .memory("256M", SHARED)
        .kernel(guest.kernel, { initrd: guest.initrd })
        .device({ kind: "virtiofs", socket, tag: "host" })
        .launch({ timeout: 60_000 });
      await run(machine, "mkdir -p /mnt/host && mount -t virtiofs host /mnt/host");
      assert.equal(await run(machine, "cat /mnt/host/host.txt"), "over virtiofs");
      await run(machine, "echo from the guest > /mnt/host/guest.txt");
      assert.equal(await Deno.readTextFile(`${source}/guest.txt`), "from the guest\n");
    } catch (error) {
      if (await settledWithin(virtiofsd.status, 0) === undefined) virtiofsd.kill();
      throw new Error(`virtiofsd said: ${await log}`, { cause: error });
    }
    // Once the VM is gone, so is virtiofsd.
    const status = await settledWithin(virtiofsd.status, 5000);
    if (status === undefined) virtiofsd.kill();
    await log;
    assert.ok(status !== undefined, "virtiofsd exited when QEMU disconnected");
  },
});
