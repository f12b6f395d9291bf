import assert from "node:assert/strict";
import { elfClosure } from "../../lib/guest/_elf_libraries.ts";
import { initramfs } from "../../lib/guest/initramfs.ts";
import { tinyGuest, tinyGuestModules } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { scratchDir } from "../vm/_disks.ts";

/** What ldd says a program loads: name → path, and the loader. */
async function ldd(path: string): Promise<{ libraries: Map<string, string>; loader?: string }> {
  const { success, stdout } = await new Deno.Command("ldd", { args: [path], stdout: "piped" })
    .output();
  assert.ok(success, `ldd ${path}`);
  const libraries = new Map<string, string>();
  let loader: string | undefined;
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const linked = /^\s*(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (linked !== null) libraries.set(linked[1], linked[2]);
    const bare = /^\s*(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (bare !== null) loader = bare[1];
  }
  return { libraries, loader };
}

/** The paths an archive holds, from busybox cpio's listing. */
async function archivePaths(bytes: Uint8Array): Promise<string[]> {
  const guest = await tinyGuest("x86_64");
  const child = new Deno.Command(guest.busybox, {
    args: ["cpio", "-t"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test("the libraries found for qemu-ga are the ones ldd lists, at the same paths", async () => {
  for (const program of ["/usr/sbin/qemu-ga", "/usr/bin/env"]) {
    const closure = await elfClosure(program);
    const oracle = await ldd(program);
    assert.deepEqual(
      new Map(closure.libraries.map((l) => [l.name, l.path])),
      oracle.libraries,
      program,
    );
    assert.equal(closure.interpreter?.path, oracle.loader, program);
  }
  // qemu-ga needs libpcre2 only through glib: the search is recursive.
  const qga = await elfClosure("/usr/sbin/qemu-ga");
  assert.ok(!qga.elf.needed.includes("libpcre2-8.so.0"));
  assert.ok(qga.libraries.some((l) => l.name === "libpcre2-8.so.0"));
});

Deno.test("a tiny guest runs dynamically linked host programs put in its initramfs with executable()", async () => {
  const guest = await tinyGuest("x86_64");
  await using dir = await scratchDir();
  const image = initramfs().busybox(guest.busybox)
    .modules(guest.modulesDir!, tinyGuestModules("x86_64"))
    .executable("/usr/sbin/qemu-ga")
    .executable("/usr/bin/env", { as: "/opt/gnu/env" });
  const bytes = await image.build();
  const paths = await archivePaths(bytes);
  // busybox makes /usr/sbin a link to /bin: the program goes where the link points.
  assert.ok(paths.includes("bin/qemu-ga"), paths.join(" "));
  assert.ok(paths.includes("lib64/ld-linux-x86-64.so.2"));
  assert.ok(paths.includes("lib/x86_64-linux-gnu/libglib-2.0.so.0"));
  await Deno.writeFile(`${dir.path}/initrd.img`, bytes);
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: `${dir.path}/initrd.img` })
    .launch({ timeout: 60_000 });
  const version = await machine.console.exec("/usr/sbin/qemu-ga --version");
  assert.equal(version.exitCode, 0, version.output);
  assert.match(version.output, /QEMU Guest Agent \d+\.\d+/);
  const env = await machine.console.exec("/opt/gnu/env --version | head -n 1");
  assert.match(env.output, /^env \(GNU coreutils\)/);
});

Deno.test("executable() names a missing library and the program that needs it", async () => {
  await using dir = await scratchDir();
  // /usr/bin/env with its DT_NEEDED "libc.so.6" renamed to a library no system has.
  const bytes = await Deno.readFile("/usr/bin/env");
  const text = new TextDecoder("latin1").decode(bytes);
  const at = text.indexOf("\0libc.so.6\0");
  assert.ok(at > 0);
  bytes.set(new TextEncoder().encode("libq.so.6"), at + 1);
  const program = `${dir.path}/needs-libq`;
  await Deno.writeFile(program, bytes, { mode: 0o755 });
  await assert.rejects(
    () => initramfs().executable(program).build(),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.NotFound, String(error));
      assert.match(error.message, /library "libq\.so\.6"/);
      assert.ok(error.message.includes(`"${program}"`), error.message);
      return true;
    },
  );
});

Deno.test("executable() refuses a file that is not ELF, and a program for another machine than the busybox", async () => {
  await using dir = await scratchDir();
  const script = `${dir.path}/script.sh`;
  await Deno.writeTextFile(script, "#!/bin/sh\necho hi\n");
  await assert.rejects(
    () => initramfs().executable(script).build(),
    (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.ok(error.message.includes(`"${script}"`), error.message);
      assert.match(error.message, /not an ELF file/);
      return true;
    },
  );
  const x86 = await tinyGuest("x86_64");
  const arm = await tinyGuest("aarch64");
  await assert.rejects(
    () => initramfs().busybox(x86.busybox).executable(arm.busybox, { as: "/bin/arm" }).build(),
    (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.ok(error.message.includes(`"${arm.busybox}"`), error.message);
      assert.match(error.message, /ELF machine 183 \(64-bit\).*busybox for 62 \(64-bit\)/);
      return true;
    },
  );
  assert.throws(() => initramfs().executable("usr/bin/env"), /not an absolute path/);
});

Deno.test("executable() copies a static program alone", async () => {
  const guest = await tinyGuest("x86_64");
  const paths = await archivePaths(
    await initramfs().executable(guest.busybox, { as: "/opt/busybox" }).build(),
  );
  const without = await archivePaths(await initramfs().build());
  assert.deepEqual(paths.filter((p) => !without.includes(p)).sort(), ["opt", "opt/busybox"]);
});
