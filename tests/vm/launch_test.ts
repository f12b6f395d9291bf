import assert from "node:assert/strict";
import { ConsoleTimeoutError, QmpClient, tinyGuest, vm, VmLaunchError } from "../../mod.ts";

async function gone(pid: number, dir: string): Promise<void> {
  const alive = await Deno.stat(`/proc/${pid}`).then(() => true, () => false);
  assert.ok(!alive, `QEMU ${pid} is still running`);
  await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
}

Deno.test("the x86_64 tiny guest boots, runs commands, answers QMP and shuts down by ACPI", async () => {
  const guest = await tinyGuest("x86_64");
  let pid = 0;
  let dir = "";
  {
    await using machine = await vm({ arch: "x86_64" }).memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd })
      .launch({ timeout: 60_000 });
    pid = machine.pid;
    dir = machine.runtimeDir;
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal(machine.accel.accel, "tcg");
    const uname = await machine.console.exec("uname -a", { timeout: 60_000 });
    assert.equal(uname.exitCode, 0);
    assert.match(uname.output, /^Linux vmkit .* x86_64/);
    assert.deepEqual(await machine.console.exec("echo out; echo err >&2; false"), {
      output: "out\nerr",
      exitCode: 1,
    });
    assert.deepEqual(await machine.console.exec("for i in 1 2\ndo echo $i\ndone"), {
      output: "1\n2",
      exitCode: 0,
    });
    assert.equal((await machine.console.exec("exit 7 | true; (exit 7)")).exitCode, 7);
    // Errors the shell aborts a whole line for still end the command, with status 2, and
    // what the command set before them stays set.
    const aborted = await machine.console.exec("x='it''s'; cd /tmp; echo $((1/0))");
    assert.equal(aborted.exitCode, 2);
    assert.match(aborted.output, /divide by zero/);
    assert.equal((await machine.console.exec('echo "$x" $PWD')).output, "its /tmp");
    assert.equal((await machine.console.exec("echo 'unterminated")).exitCode, 2);
    assert.equal((await machine.console.exec("printf '%s' \"it's\"")).output, "it's");
    assert.match(machine.console.transcript, /vmkit: guest ready/);
    assert.equal(
      (await machine.qmp.execute("query-status") as { status: string }).status,
      "running",
    );
    await assert.rejects(
      () => machine.console.exec("sleep 30", { timeout: 300 }),
      ConsoleTimeoutError,
    );
    // Ctrl-C was sent after the timeout: the shell answers again.
    assert.equal((await machine.console.exec("echo back")).output, "back");
    const result = await machine.shutdown({ timeout: 20_000 });
    assert.equal(result.method, "powerdown");
    assert.equal(result.exit.code, 0);
    assert.equal((await machine.shutdown()).method, "powerdown");
  }
  await gone(pid, dir);
});

for (const [firmware, machineType] of [["qboot", "q35"], ["SeaBIOS", "pc"]]) {
  Deno.test(`reset reboots the guest, which still exits when it reboots itself (${firmware})`, async () => {
    const guest = await tinyGuest("x86_64");
    const builder = vm({ arch: "x86_64" }).memory("256M").machine(machineType)
      .kernel(guest.kernel, { initrd: guest.initrd });
    assert.equal(builder.bios, firmware === "qboot" ? "qboot.rom" : undefined);
    await using machine = await builder.launch({ timeout: 60_000 });
    assert.equal((await machine.console.exec("echo up")).output, "up");
    // reset() reboots the guest; the next command waits for the rebooted guest's shell instead
    // of being typed into the booting one.
    await machine.reset();
    const uptime = await machine.console.exec("cut -d. -f1 /proc/uptime", { timeout: 60_000 });
    assert.equal(machine.console.transcript.split("vmkit: guest ready").length, 3);
    assert.ok(Number(uptime.output) < 30, `uptime ${uptime.output}: the guest did not reboot`);
    // The fast profile's -no-reboot is back: a reboot from inside ends QEMU.
    await machine.console.send("reboot -f\n");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      machine.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("QEMU went on after the guest rebooted")),
          30_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(exit.code, 0);
  });
}

Deno.test("the console transcript starts at the guest's first byte and streams", async () => {
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd, append: "loglevel=7" })
    .launch({ timeout: 60_000 });
  const ready = await machine.console.expect(guest.readyLine, { timeout: 60_000 });
  assert.match(machine.console.transcript, /^\[\s+0\.000000\] Linux version/);
  assert.match(ready.before, /Run \/init as init process/);
  const reader = machine.console.stream().getReader();
  let streamed = "";
  while (!streamed.includes(guest.readyLine)) {
    const { value } = await reader.read();
    streamed += new TextDecoder().decode(value);
  }
  assert.ok(machine.console.transcript.startsWith(streamed));
  await reader.cancel();
  await assert.rejects(
    () => machine.console.expect("never printed", { timeout: 100 }),
    ConsoleTimeoutError,
  );
  machine.kill();
  assert.equal((await machine.exited).signal, "SIGKILL");
  assert.equal((await machine.shutdown()).method, "already-exited");
});

Deno.test("the aarch64 tiny guest boots and runs a command", async () => {
  const guest = await tinyGuest("aarch64");
  await using machine = await vm({ arch: "aarch64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd })
    .launch({ timeout: 60_000 });
  const { output, exitCode } = await machine.console.exec("uname -m", { timeout: 120_000 });
  assert.deepEqual({ output, exitCode }, { output: "aarch64", exitCode: 0 });
  // The virt machine's power key reaches the guest through gpio_keys.
  assert.equal((await machine.shutdown()).method, "powerdown");
});

for (const arch of ["riscv64", "s390x", "ppc64le"] as const) {
  Deno.test(`real QEMU accepts the ${arch} argv and starts it paused`, async () => {
    await using machine = await vm({ arch }).memory("256M").smp(2).rng().balloon().paused()
      .launch({ timeout: 30_000 });
    const status = await machine.qmp.execute("query-status") as {
      status: string;
      running: boolean;
    };
    assert.equal(status.running, false);
    assert.equal(status.status, "prelaunch");
    assert.equal((await machine.shutdown()).method, "quit");
  });
}

Deno.test("missing files are reported before QEMU starts", async () => {
  await assert.rejects(
    () => vm({ arch: "x86_64" }).kernel("/nonexistent/vmlinuz").launch(),
    (error: Error) =>
      error instanceof Deno.errors.NotFound &&
      /kernel "\/nonexistent\/vmlinuz" does not exist/.test(error.message),
  );
  await assert.rejects(
    () => vm({ arch: "x86_64" }).drive("/nonexistent/disk,1.img").launch(),
    /drive "drive0" "\/nonexistent\/disk,1\.img" does not exist/,
  );
});

Deno.test("a missing QEMU binary names the Debian package to install", async () => {
  await assert.rejects(
    () => vm({ arch: "aarch64" }).qemuBinary("qemu-system-aarch64-missing").launch(),
    /"qemu-system-aarch64-missing" is not installed; install it with: apt-get install qemu-system-arm/,
  );
});

Deno.test("QEMU that exits at start-up fails the launch with its stderr and argv, and leaves nothing", async () => {
  const before = new Set([...Deno.readDirSync("/tmp")].map((e) => e.name));
  const error = await vm({ arch: "x86_64" }).accel("tcg").arg("-device", "no-such-device")
    .launch().catch((e) => e);
  assert.ok(error instanceof VmLaunchError, String(error));
  assert.match(error.stderr, /no-such-device/);
  assert.ok(error.argv.includes("no-such-device"));
  assert.equal(error.exit?.code, 1);
  assert.match(error.message, /argv: qemu-system-x86_64 .*no-such-device/);
  const after = [...Deno.readDirSync("/tmp")].map((e) => e.name).filter((n) =>
    n.startsWith("vmkit-") && !before.has(n)
  );
  assert.deepEqual(after, []);
});

Deno.test("launch with an exact runtimeDir refuses one that exists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => vm({ arch: "x86_64" }).launch({ runtimeDir: dir }),
      /already exists/,
    );
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("a launch that QEMU refuses leads with QEMU's own words", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/junk`, "not a kernel");
    const cases: [ReturnType<typeof vm>, RegExp][] = [
      [
        vm({ arch: "x86_64" }).accel("tcg").kernel(`${dir}/junk`),
        /^Cannot launch VM: invalid kernel header \(QEMU exited with code 1\)\nargv: /,
      ],
      [
        vm({ arch: "x86_64" }).accel("tcg").cpu("nosuchcpu"),
        /^Cannot launch VM: unable to find CPU model 'nosuchcpu' \(QEMU exited with code 1\)\n/,
      ],
    ];
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    cases.push([
      vm({ arch: "x86_64" }).accel("tcg").network({
        type: "user",
        forwards: [{ hostPort: (taken.addr as Deno.NetAddr).port, guestPort: 22 }],
      }),
      /^Cannot launch VM: -netdev \{"type":"user".*: Could not set up host forwarding rule 'tcp:127\.0\.0\.1:\d+-:22' \(QEMU exited with code 1\)\n/,
    ]);
    for (const [builder, headline] of cases) {
      const error = await builder.launch().catch((e) => e);
      assert.ok(error instanceof VmLaunchError, String(error));
      assert.match(error.message, headline);
      assert.match(error.message, /\nstderr:\nqemu/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a runtime directory that cannot be made or used is named, with what to do", async () => {
  const builder = vm({ arch: "x86_64" }).accel("tcg");
  await assert.rejects(
    () => builder.launch({ runtimeDirBase: "/nonexistent/run" }),
    (error: Error) =>
      error instanceof Deno.errors.NotFound &&
      error.message ===
        'Cannot launch VM: runtime directory base "/nonexistent/run" does not exist; create it, or pass another runtimeDirBase',
  );
  await assert.rejects(
    () => builder.launch({ runtimeDirBase: "/etc/hostname" }),
    /runtime directory base "\/etc\/hostname" is not a directory/,
  );
  await assert.rejects(
    () => builder.launch({ runtimeDir: "/nonexistent/run/vm" }),
    /runtime directory "\/nonexistent\/run\/vm": its parent directory does not exist/,
  );
  const long = `/tmp/${"d".repeat(100)}`;
  await assert.rejects(
    () => builder.launch({ runtimeDir: long }),
    /it is too long for the unix sockets it holds \(120 bytes with "\/migration\.sock"; at most 107\)/,
  );
  await assert.rejects(() => Deno.stat(long), Deno.errors.NotFound);
  assert.throws(() => builder.qmpSocket(`${long}.qmp`), /a unix socket path holds at most 107/);
});

Deno.test("qmpSocket gives other tools a QMP monitor of their own, removed with the VM", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/vm.qmp`;
  try {
    const builder = vm({ arch: "x86_64" }).accel("tcg").paused().qmpSocket(path);
    const machine = await builder.launch();
    {
      await using other = await QmpClient.connect(path, { timeout: 5000 });
      assert.equal((await other.execute("query-status")).status, "prelaunch");
      // A monitor serves one client at a time: a second one is told why it gets no greeting.
      await assert.rejects(
        () => QmpClient.connect(path, { timeout: 500 }),
        /no greeting within \d+ ms; a QEMU monitor serves one client at a time/,
      );
      // QEMU's own qmp-shell speaks the same protocol; so does vmkit's, run as users run it.
      const shell = new Deno.Command(
        new URL("../../recipes/qmp-shell.ts", import.meta.url).pathname,
        {
          args: [path],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        },
      );
      await other.close();
      const child = shell.spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("query-status\n"));
      await writer.close();
      const out = await child.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(new TextDecoder().decode(out.stdout), /"status": ?"prelaunch"/);
    }
    await assert.rejects(() => builder.launch(), /QMP socket ".*vm\.qmp": it already exists/);
    await machine.shutdown();
    await assert.rejects(() => Deno.lstat(path), Deno.errors.NotFound);
    // A killed QEMU leaves its socket; vmkit removes it.
    const killed = await builder.launch();
    killed.kill();
    await killed.shutdown();
    await assert.rejects(() => Deno.lstat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
