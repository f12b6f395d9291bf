import assert from "node:assert/strict";
import {
  busyboxApplets,
  CpioWriter,
  defaultCacheDir,
  initramfs,
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

async function listCpio(bytes: Uint8Array): Promise<string> {
  const child = new Deno.Command(`${cache}/x86_64/busybox`, {
    args: ["cpio", "-t", "-v"],
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
});
