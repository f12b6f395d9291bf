// These tests change the real kernel's binfmt_misc, as root, with entry names that start with
// "vmkit-test-"; each removes its entries in `finally`.
import assert from "node:assert/strict";
import { binfmt, BinfmtConflictError } from "../../mod.ts";
import { FOREIGN_BUSYBOXES, needsRoot, removeTestEntries, TEST_PREFIX } from "./_foreign.ts";

const testEntry = (target: string, options: binfmt.EntryOptions = {}) =>
  binfmt.entry(target, { name: `${TEST_PREFIX}${target}`, qemuSuffix: "-static", ...options });

async function run(path: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(path, { args, stdout: "piped", stderr: "piped" }).output();
}

Deno.test(
  needsRoot("registered entries run Debian's busybox-static of seven architectures natively"),
  async () => {
    const targets = [...new Set(FOREIGN_BUSYBOXES.map((b) => b.target))];
    try {
      for (const target of targets) {
        assert.equal(await binfmt.register(testEntry(target, { persistent: true })), "registered");
      }
      for (const busybox of FOREIGN_BUSYBOXES) {
        const { code, stdout } = await run(busybox.path, ["uname", "-m"]);
        assert.equal(code, 0, busybox.deb);
        assert.equal(new TextDecoder().decode(stdout).trim(), busybox.uname, busybox.deb);
      }
    } finally {
      for (const target of targets) await binfmt.unregister(`${TEST_PREFIX}${target}`);
    }
  },
);

Deno.test(
  needsRoot("register is idempotent, shows the difference on conflict, and replaces on request"),
  async () => {
    const name = `${TEST_PREFIX}s390x`;
    try {
      const first = testEntry("s390x", { persistent: true });
      assert.equal(await binfmt.register(first), "registered");
      assert.equal(await binfmt.register(first), "unchanged");
      const changed = testEntry("s390x", { credential: true });
      await assert.rejects(() => binfmt.register(changed), (e: Error) => {
        assert.ok(e instanceof BinfmtConflictError);
        assert.deepEqual(e.differences, ['flags: "F" → "OC"']);
        assert.match(e.message, /pass \{ replace: true \}/);
        return true;
      });
      assert.equal((await binfmt.get(name))?.flags.persistent, true, "the old entry is untouched");
      assert.equal(await binfmt.register(changed, { replace: true }), "replaced");
      const now = await binfmt.get(name);
      assert.deepEqual(now?.flags, {
        preserveArgv0: false,
        openBinary: true,
        credential: true,
        persistent: false,
      });
    } finally {
      await binfmt.unregister(name);
    }
  },
);

Deno.test(
  needsRoot("a failed replace puts the old entry back"),
  async () => {
    const name = `${TEST_PREFIX}mipsel`;
    const noexec = await Deno.makeTempDir();
    let mounted = false;
    try {
      assert.equal(await binfmt.register(testEntry("mipsel")), "registered");
      // The kernel opens an F interpreter at registration and refuses one on a noexec mount,
      // although it passes vmkit's checks (it exists, is executable and static).
      const mount = await run("mount", ["-t", "tmpfs", "-o", "noexec", "tmpfs", noexec]);
      assert.equal(mount.code, 0, new TextDecoder().decode(mount.stderr));
      mounted = true;
      await Deno.copyFile("/usr/bin/qemu-mipsel-static", `${noexec}/qemu-mipsel`);
      await Deno.chmod(`${noexec}/qemu-mipsel`, 0o755);
      const refused = testEntry("mipsel", { qemuPath: noexec, qemuSuffix: "", persistent: true });
      await assert.rejects(
        () => binfmt.register(refused, { replace: true }),
        /Cannot register binfmt_misc entry "vmkit-test-mipsel": the kernel refused it with "permission denied" although this process is root/,
      );
      const restored = await binfmt.get(name);
      assert.equal(restored?.interpreter, "/usr/bin/qemu-mipsel-static");
      assert.equal(restored?.flags.persistent, false);
      const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "mipsel")!;
      assert.equal((await run(busybox.path, ["true"])).code, 0, "the restored entry works");
    } finally {
      await binfmt.unregister(name);
      if (mounted) await run("umount", [noexec]);
      await Deno.remove(noexec, { recursive: true });
    }
  },
);

Deno.test(needsRoot("disable stops matching, enable brings it back"), async () => {
  const name = `${TEST_PREFIX}aarch64`;
  const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "arm64")!;
  try {
    await binfmt.register(testEntry("aarch64"));
    await binfmt.disable(name);
    assert.equal((await binfmt.get(name))?.enabled, false);
    // The kernel no longer runs it (execvp then hands the file to /bin/sh, which fails).
    const disabled = await run(busybox.path, ["uname", "-m"]);
    assert.notEqual(disabled.code, 0);
    assert.notEqual(new TextDecoder().decode(disabled.stdout).trim(), "aarch64");
    assert.equal(await binfmt.register(testEntry("aarch64")), "enabled");
    assert.equal((await run(busybox.path, ["true"])).code, 0);
    await binfmt.disable(name);
    await binfmt.enable(name);
    assert.equal((await binfmt.get(name))?.enabled, true);
  } finally {
    await binfmt.unregister(name);
  }
  await assert.rejects(() => binfmt.enable(name), (e: Error) => {
    assert.ok(e instanceof Deno.errors.NotFound);
    assert.match(
      e.message,
      /Cannot enable binfmt_misc entry "vmkit-test-aarch64": there is no such entry/,
    );
    return true;
  });
  assert.equal(await binfmt.unregister(name), false, "removing a missing entry is not an error");
});

Deno.test(needsRoot("reset removes the entries with the prefix and nothing else"), async () => {
  try {
    await binfmt.register(testEntry("riscv64"));
    await binfmt.register(testEntry("ppc64le"));
    const before = (await binfmt.list()).map((e) => e.name);
    assert.ok(before.includes(`${TEST_PREFIX}riscv64`) && before.includes(`${TEST_PREFIX}ppc64le`));
    const removed = await binfmt.reset({ prefix: TEST_PREFIX });
    assert.deepEqual(removed.sort(), [`${TEST_PREFIX}ppc64le`, `${TEST_PREFIX}riscv64`]);
    const after = (await binfmt.list()).map((e) => e.name);
    assert.deepEqual(after, before.filter((n) => !n.startsWith(TEST_PREFIX)));
    await assert.rejects(
      () => binfmt.reset({ prefix: "" }),
      /empty prefix: that would remove every entry/,
    );
  } finally {
    await removeTestEntries();
  }
});

Deno.test(
  needsRoot("register refuses an entry that would catch the host's own binaries"),
  async () => {
    const host = Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
    await assert.rejects(
      () => binfmt.register(testEntry(host)),
      (e: Error) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, new RegExp(`it matches this host's own ${host} binaries`));
        return true;
      },
    );
    assert.equal(await binfmt.get(`${TEST_PREFIX}${host}`), undefined);
    // hostArch says which binaries are native: an aarch64 entry is refused on an aarch64 host.
    await assert.rejects(
      () => binfmt.register(testEntry("aarch64"), { hostArch: "arm64" }),
      /it matches this host's own aarch64 binaries/,
    );
    assert.equal(await binfmt.get(`${TEST_PREFIX}aarch64`), undefined);
  },
);

Deno.test(needsRoot("register checks the interpreter before writing anything"), async () => {
  const name = `${TEST_PREFIX}arm`;
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => binfmt.register(testEntry("arm", { qemuSuffix: "-missing" })),
      /interpreter \/usr\/bin\/qemu-arm-missing does not exist \(Debian's qemu-user-static installs/,
    );
    await Deno.writeFile(`${dir}/qemu-arm`, new Uint8Array(64), { mode: 0o644 });
    await Deno.chmod(`${dir}/qemu-arm`, 0o644);
    await assert.rejects(
      () => binfmt.register(testEntry("arm", { qemuPath: dir, qemuSuffix: "" })),
      /interpreter .*\/qemu-arm is not an executable file \(mode 0644\)/,
    );
    await Deno.copyFile(Deno.execPath(), `${dir}/qemu-arm`);
    await Deno.chmod(`${dir}/qemu-arm`, 0o755);
    await assert.rejects(
      () => binfmt.register(testEntry("arm", { qemuPath: dir, qemuSuffix: "", persistent: true })),
      (e: Error) => {
        assert.ok(e instanceof TypeError);
        assert.match(
          e.message,
          /with the persistent \(F\) flag: interpreter .* is dynamically linked \(it needs \/lib/,
        );
        assert.match(e.message, /fail with "No such file or directory"/);
        return true;
      },
    );
    assert.equal(await binfmt.get(name), undefined, "nothing was registered");
  } finally {
    await binfmt.unregister(name);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(needsRoot("check reports working, broken and unregistered targets as JSON"), async () => {
  try {
    await binfmt.register(testEntry("riscv64"));
    // An entry whose interpreter is not QEMU: it matches, but the binary does not run.
    await binfmt.register({ ...testEntry("loongarch64"), interpreter: "/bin/false" });
    const report = await binfmt.checkAll({ targets: ["riscv64", "loongarch64", "sparc64"] });
    assert.deepEqual(report.working, ["riscv64"]);
    assert.deepEqual(report.emulators, [`${TEST_PREFIX}riscv64`, `${TEST_PREFIX}loongarch64`]);
    const [riscv, loongarch, sparc] = report.results;
    assert.equal(riscv.state, "working");
    assert.equal(riscv.exitCode, 42);
    assert.equal(loongarch.state, "broken");
    assert.match(loongarch.error ?? "", /exited with code 1, expected exit code 42/);
    assert.equal(sparc.state, "untested");
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
    await assert.rejects(
      () => binfmt.check("s390x", { binary: "/nonexistent/busybox" }),
      /Cannot check s390x: binary \/nonexistent\/busybox does not exist/,
    );
    const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "s390x")!;
    const unregistered = await binfmt.check("s390x", { binary: busybox.path, args: ["true"] });
    if (unregistered.state !== "working") assert.equal(unregistered.state, "unregistered");
  } finally {
    await removeTestEntries();
  }
});

Deno.test(needsRoot("an exported systemd line registers with the real kernel"), async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entries = [testEntry("mips64el", { persistent: true }), testEntry("ppc64le")];
    const paths = await binfmt.exportEntries(entries, "systemd", { dir: `${dir}/binfmt.d` });
    assert.deepEqual(paths, entries.map((e) => `${dir}/binfmt.d/${e.name}.conf`));
    for (const path of paths) {
      using file = await Deno.open("/proc/sys/fs/binfmt_misc/register", { write: true });
      await file.write(new TextEncoder().encode((await Deno.readTextFile(path)).trim()));
    }
    for (const e of entries) {
      assert.deepEqual(binfmt.entryDifferences((await binfmt.get(e.name))!, e), [], e.name);
    }
    const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "mips64el")!;
    assert.equal((await run(busybox.path, ["true"])).code, 0);
    const debian = await binfmt.exportEntries(entries, "debian", { dir: `${dir}/binfmts` });
    assert.match(await Deno.readTextFile(debian[0]), /^package vmkit-test-mips64el\ninterpreter /);
  } finally {
    await removeTestEntries();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(needsRoot("binfmt_misc is mounted again when it is not mounted"), async () => {
  const mountPoint = "/proc/sys/fs/binfmt_misc";
  await binfmt.ensureMounted();
  const umount = await run("umount", [mountPoint]);
  assert.equal(umount.code, 0, new TextDecoder().decode(umount.stderr));
  const status = await binfmt.status();
  assert.equal(status.mountPoint, mountPoint);
  assert.equal(typeof status.enabled, "boolean");
  assert.equal(await binfmt.ensureMounted(), false, "already mounted now");
  await assert.rejects(
    () => binfmt.list({ mountPoint: "/nonexistent/binfmt_misc" }),
    /Cannot mount binfmt_misc: \/nonexistent\/binfmt_misc does not exist, so the kernel has no binfmt_misc support loaded/,
  );
});

Deno.test(needsRoot("a user who is not root is told that root is needed"), async () => {
  const denoDir = await Deno.makeTempDir();
  await Deno.chmod(denoDir, 0o777);
  const script = new URL("../fixtures/binfmt_unprivileged.ts", import.meta.url).pathname;
  try {
    await binfmt.register(testEntry("aarch64"));
    const { code, stdout, stderr } = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "--allow-all",
        "--no-lock",
        script,
      ],
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out + new TextDecoder().decode(stderr));
    const lines = out.trim().split("\n");
    assert.deepEqual(lines.map((l) => l.split(": ")[0]), [
      "BinfmtPermissionError",
      "BinfmtPermissionError",
      "BinfmtPermissionError",
    ]);
    assert.match(
      lines[0],
      /Cannot register binfmt_misc entry "vmkit-test-riscv64": changing \/proc\/sys\/fs\/binfmt_misc\/register needs root \(run as root, e\.g\. with sudo\)/,
    );
    assert.match(lines[1], /Cannot disable binfmt_misc entry "vmkit-test-aarch64": changing /);
    assert.equal((await binfmt.get(`${TEST_PREFIX}aarch64`))?.enabled, true, "still enabled");
  } finally {
    await Deno.remove(denoDir, { recursive: true });
    await removeTestEntries();
  }
});
