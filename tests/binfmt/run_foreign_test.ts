// runForeign needs neither root nor binfmt_misc: it starts qemu-<target> itself.
import assert from "node:assert/strict";
import { runForeign } from "../../mod.ts";
import { FOREIGN_BUSYBOXES } from "./_foreign.ts";

Deno.test("runForeign runs busybox-static of seven architectures through qemu-user", async () => {
  for (const busybox of FOREIGN_BUSYBOXES) {
    const child = await runForeign(busybox.path, ["uname", "-m"], { stdout: "piped" });
    assert.equal(child.target, busybox.target);
    assert.equal(child.emulator, `qemu-${busybox.target}-static`);
    const { code, stdout } = await child.output();
    assert.equal(code, 0, busybox.deb);
    assert.equal(new TextDecoder().decode(stdout).trim(), busybox.uname, busybox.deb);
  }
});

Deno.test("runForeign passes stdin, env, cwd and the sysroot to the program", async () => {
  const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "arm64")!;
  const dir = await Deno.makeTempDir();
  try {
    const child = await runForeign(
      busybox.path,
      ["sh", "-c", 'read x; echo "$x $GREETING $(pwd)"'],
      {
        stdin: "piped",
        stdout: "piped",
        env: { GREETING: "hello" },
        cwd: dir,
        sysroot: dir,
      },
    );
    assert.deepEqual(child.args.slice(0, 2), ["-L", dir]);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("from-stdin\n"));
    await writer.close();
    const { stdout } = await child.output();
    assert.equal(new TextDecoder().decode(stdout).trim(), `from-stdin hello ${dir}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runForeign stops the program when the signal aborts", async () => {
  const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "s390x")!;
  const controller = new AbortController();
  const child = await runForeign(busybox.path, ["sleep", "30"], { signal: controller.signal });
  const started = performance.now();
  setTimeout(() => controller.abort(), 100);
  const status = await child.status;
  assert.equal(status.success, false);
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("runForeign explains a missing file, a non-ELF file, an unknown machine and a missing emulator", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => runForeign(`${dir}/nope`),
      (e: Error) =>
        e instanceof Deno.errors.NotFound &&
        /Cannot run .*\/nope: the file does not exist/.test(e.message),
    );
    await Deno.writeTextFile(`${dir}/script`, "#!/bin/sh\necho hi\n");
    await assert.rejects(
      () => runForeign(`${dir}/script`),
      /Cannot run .*\/script: it is not an ELF binary/,
    );
    const odd = (await Deno.readFile(FOREIGN_BUSYBOXES[0].path)).slice(0, 4096);
    odd[18] = 0x34;
    odd[19] = 0x12;
    await Deno.writeFile(`${dir}/odd`, odd);
    await assert.rejects(
      () => runForeign(`${dir}/odd`),
      /Cannot run .*\/odd: no QEMU user-mode target matches its ELF header \(machine 0x1234, 64-bit, little-endian\)/,
    );
    await assert.rejects(
      () => runForeign(FOREIGN_BUSYBOXES[0].path, [], { emulator: `${dir}/qemu-aarch64` }),
      (e: Error) => {
        assert.ok(e instanceof Deno.errors.NotFound);
        assert.match(e.message, /no emulator for aarch64 is installed \(tried .*\/qemu-aarch64\)/);
        assert.match(e.message, /apt-get install qemu-user-static/);
        assert.match(e.message, /emulators\.fetch\("aarch64"\)/);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runForeign finds an emulator in emulatorDirs before PATH", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile("/usr/bin/qemu-ppc64le-static", `${dir}/qemu-ppc64le`);
    await Deno.chmod(`${dir}/qemu-ppc64le`, 0o755);
    const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "ppc64el")!;
    const child = await runForeign(busybox.path, ["true"], { emulatorDirs: [dir] });
    assert.equal(child.emulator, `${dir}/qemu-ppc64le`);
    assert.equal((await child.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
