import assert from "node:assert/strict";
import {
  busyboxApplets,
  CpioWriter,
  defaultCacheDir,
  initramfs,
  isDeviceAlias,
  parseModulesAlias,
  parseModulesDep,
  resolveModules,
} from "../../mod.ts";

const cache = defaultCacheDir();
const modulesDir = await (async () => {
  for await (const entry of Deno.readDir(`${cache}/x86_64/lib/modules`)) {
    return `${cache}/x86_64/lib/modules/${entry.name}`;
  }
  throw new Error("run ./scripts/setup.sh first");
})();

/** Runs busybox cpio with the archive on its stdin, and returns what it printed. */
async function cpio(args: string[], bytes: Uint8Array, cwd?: string): Promise<string> {
  const child = new Deno.Command(`${cache}/x86_64/busybox`, {
    args: ["cpio", ...args],
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** Unpacks an archive with busybox cpio into a directory removed on dispose. */
async function unpacked(bytes: Uint8Array): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-cpio-" });
  await cpio(["-i", "-d"], bytes, path).catch(async (error) => {
    await Deno.remove(path, { recursive: true });
    throw error;
  });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function listCpio(bytes: Uint8Array): Promise<string> {
  return cpio(["-t", "-v"], bytes);
}

Deno.test("CpioWriter writes files, directories, symlinks and devices that cpio reads back", async () => {
  const bytes = new CpioWriter()
    .directory("etc", { mode: 0o750, uid: 1000, gid: 100 })
    .file("etc/hostname", new TextEncoder().encode("vmkit\n"), { mode: 0o640, uid: 1000 })
    .symlink("etc/link", "hostname")
    .device("dev/console", { type: "char", major: 5, minor: 1 })
    .device("dev/vda", { type: "block", major: 254, minor: 0, mode: 0o660 })
    .finish();
  const listing = await listCpio(bytes);
  assert.match(listing, /drwxr-x--- 1000\/100 .* etc\n/);
  assert.match(listing, /-rw-r----- 1000\/0\s+6 .* etc\/hostname/);
  assert.match(listing, /lrwxrwxrwx .* etc\/link -> hostname/);
  assert.match(listing, /crw------- .* dev\/console/);
  assert.match(listing, /brw-rw---- .* dev\/vda/);
  // Unpack for real (as root) and read the device numbers back from the file system.
  if (Deno.uid() !== 0) return;
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(`${cache}/x86_64/busybox`, {
      args: ["cpio", "-i", "-d"],
      cwd: dir,
      stdin: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(bytes);
    await writer.close();
    assert.equal((await child.output()).code, 0);
    assert.equal((await Deno.stat(`${dir}/dev/console`)).rdev, (5 << 8) | 1);
    assert.equal((await Deno.stat(`${dir}/dev/vda`)).rdev, 254 << 8);
    assert.equal(await Deno.readTextFile(`${dir}/etc/hostname`), "vmkit\n");
    assert.equal(await Deno.readLink(`${dir}/etc/link`), "hostname");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CpioWriter rejects paths with '..' or NUL and out-of-range fields", () => {
  assert.throws(
    () => new CpioWriter().file("../etc/passwd", new Uint8Array()),
    /"\.\." is not allowed/,
  );
  assert.throws(() => new CpioWriter().file("a\0b", new Uint8Array()), /contains NUL/);
  assert.throws(() => new CpioWriter().file("", new Uint8Array()), /names no file/);
  assert.throws(() => new CpioWriter().file("f", new Uint8Array(), { uid: -1 }), RangeError);
  assert.throws(() => new CpioWriter().file("f", new Uint8Array(), { mode: 0o17777 }), RangeError);
  assert.throws(
    () => new CpioWriter().device("d", { type: "fifo" as "char", major: 1, minor: 1 }),
    /"char" or "block"/,
  );
  const writer = new CpioWriter();
  writer.finish();
  assert.throws(() => writer.directory("late"), /already finished/);
});

Deno.test("busyboxApplets reads the applet table of a busybox of another architecture", async () => {
  const host = busyboxApplets(await Deno.readFile(`${cache}/x86_64/busybox`));
  const listed = new TextDecoder().decode(
    (await new Deno.Command(`${cache}/x86_64/busybox`, { args: ["--list"] }).output()).stdout,
  ).trim().split("\n");
  assert.deepEqual(host, listed);
  const arm = busyboxApplets(await Deno.readFile(`${cache}/aarch64/busybox`));
  assert.ok(arm.includes("sh") && arm.includes("insmod"), arm.join(" "));
  assert.throws(() => busyboxApplets(new Uint8Array(100)), /no applet table/);
});

Deno.test("resolveModules orders dependencies first from a real modules.dep", async () => {
  const modules = parseModulesDep(await Deno.readTextFile(`${modulesDir}/modules.dep`));
  const order = resolveModules(modules, ["virtio-blk", "virtio_net"]).map((m) => m.name);
  for (
    const [before, after] of [["virtio", "virtio_blk"], ["virtio_ring", "virtio_blk"], [
      "virtio",
      "virtio_net",
    ]]
  ) {
    assert.ok(
      order.indexOf(before) >= 0 && order.indexOf(before) < order.indexOf(after),
      order.join(","),
    );
  }
  assert.equal(new Set(order).size, order.length);
  assert.throws(
    () => resolveModules(modules, ["no_such_module"]),
    /neither in modules.dep nor built into/,
  );
  assert.deepEqual(resolveModules(modules, ["ext4"], { builtin: new Set(["ext4"]) }), []);
  assert.throws(() => parseModulesDep("garbage line\n"), SyntaxError);
});

Deno.test("parseModulesAlias reads a real modules.alias and tells devices from services", async () => {
  const aliases = parseModulesAlias(await Deno.readTextFile(`${modulesDir}/modules.alias`));
  assert.ok(aliases.get("virtio_blk")?.includes("virtio:d00000002v*"));
  assert.ok(aliases.get("virtio_rng")?.some(isDeviceAlias), "virtio-rng.ko is virtio_rng");
  assert.ok(aliases.get("button")?.some(isDeviceAlias));
  assert.ok(aliases.get("evdev")?.every(isDeviceAlias));
  assert.deepEqual(aliases.get("overlay"), ["fs-overlay"]);
  assert.ok(!aliases.get("fuse")?.some(isDeviceAlias), "devname: and char-major- are services");
  assert.throws(() => parseModulesAlias("alias only-two\n"), /expected "alias PATTERN MODULE"/);
});

Deno.test("initramfs gives the guest modules.dep and modules.alias, and lists for boot only what drives no device", async () => {
  await using dir = await unpacked(
    await initramfs()
      .modules(modulesDir, ["virtio_blk", "overlay"])
      .modules(modulesDir, ["virtio_console"], { load: "boot" })
      .build(),
  );
  const version = modulesDir.slice(modulesDir.lastIndexOf("/") + 1);
  const read = (path: string) => Deno.readTextFile(`${dir.path}/${path}`);
  // overlay drives no device: it loads at boot; virtio_console was asked for at boot.
  assert.deepEqual((await read("etc/vmkit/modules")).split("\n").filter(Boolean), [
    `/lib/modules/${version}/kernel/fs/overlayfs/overlay.ko`,
    `/lib/modules/${version}/kernel/drivers/virtio/virtio_ring.ko`,
    `/lib/modules/${version}/kernel/drivers/virtio/virtio.ko`,
    `/lib/modules/${version}/kernel/drivers/char/virtio_console.ko`,
  ]);
  const dep = parseModulesDep(await read(`lib/modules/${version}/modules.dep`));
  assert.deepEqual([...dep.keys()].sort(), [
    "overlay",
    "virtio",
    "virtio_blk",
    "virtio_console",
    "virtio_ring",
  ]);
  assert.deepEqual(dep.get("virtio_blk")?.dependencies, [
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_ring.ko",
  ]);
  const aliases = parseModulesAlias(await read(`lib/modules/${version}/modules.alias`));
  assert.deepEqual([...aliases.keys()].sort(), ["overlay", "virtio_blk", "virtio_console"]);
  const broken = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    await Deno.writeTextFile(`${broken}/modules.dep`, "kernel/a.ko:\n");
    await Deno.writeTextFile(`${broken}/modules.alias`, "alias only-two\n");
    await assert.rejects(
      () => initramfs().modules(broken, ["a"]).build(),
      (error: Error) =>
        error instanceof SyntaxError && error.message.includes(`(in "${broken}/modules.alias")`),
    );
  } finally {
    await Deno.remove(broken, { recursive: true });
  }
  assert.throws(
    // @ts-expect-error: not a ModuleLoading
    () => initramfs().modules(modulesDir, ["virtio_blk"], { load: "later" }),
    /Cannot add modules with load "later": use "on-demand" or "boot"/,
  );
});

Deno.test("initramfs builds the same bytes from the same inputs, with busybox, modules and init", async () => {
  const build = () =>
    initramfs()
      .busybox(`${cache}/x86_64/busybox`)
      .modules(modulesDir, ["virtio_blk"])
      .file("etc/motd", "hello\n")
      .symlink("etc/alias", "motd")
      .buildGzip();
  const [a, b] = await Promise.all([build(), build()]);
  assert.deepEqual(a, b);
  const raw = await initramfs().busybox(`${cache}/x86_64/busybox`).modules(modulesDir, [
    "virtio_blk",
  ]).build();
  const listing = await listCpio(raw);
  assert.match(listing, /-rwxr-xr-x .* init\n/);
  assert.match(listing, /bin\/sh -> busybox/);
  assert.match(listing, /sbin -> bin/);
  assert.match(listing, /crw------- .* dev\/console/);
  assert.match(listing, /virtio_blk\.ko/);
  assert.match(listing, /etc\/vmkit\/modules/);
});

Deno.test("initramfs is immutable and reports missing host files by name", async () => {
  const base = initramfs();
  const withFile = base.file("a", "1");
  assert.notEqual(base, withFile);
  assert.doesNotMatch(await listCpio(await base.build()), / a\n/);
  await assert.rejects(
    () => initramfs().busybox("/nonexistent/busybox").build(),
    (error: Error) =>
      error instanceof Deno.errors.NotFound && error.message.includes("/nonexistent/busybox"),
  );
  await assert.rejects(
    () => initramfs().modules("/nonexistent/6.1", ["x"]).build(),
    /modules\.dep/,
  );
  assert.throws(() => initramfs().init("echo no shebang"), /must start with "#!"/);
  await assert.rejects(
    () => initramfs().busybox("/bin/ls").build(),
    /^TypeError: Cannot add busybox "\/bin\/ls" to the initramfs: it is not a busybox binary/,
  );
  // A dynamically linked busybox would not run in an initramfs without its libraries.
  const dynamic = concat(
    await Deno.readFile("/bin/ls"),
    new TextEncoder().encode("\0[\0[[\0sh\0\0"),
  );
  await assert.rejects(
    () => initramfs().busybox(dynamic).build(),
    /Cannot add busybox \(bytes\) to the initramfs: it is dynamically linked \(it needs \/lib64\/ld-linux-x86-64\.so\.2/,
  );
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
