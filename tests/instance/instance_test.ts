import assert from "node:assert/strict";
import { relative } from "node:path";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { startInstance } from "../../lib/instance/start.ts";
import { openInstance } from "../../lib/instance/instance.ts";
import { listInstances } from "../../lib/instance/list.ts";
import { attachConsole } from "../../lib/instance/console_attach.ts";
import { checkInstanceName, instanceDir, instanceStateBase } from "../../lib/instance/state_dir.ts";
import { InstanceBusyError, InstanceStatusError } from "../../lib/instance/errors.ts";
import { lockInstance } from "../../lib/instance/_lock.ts";
import { STALE_FILES } from "../../lib/instance/_files.ts";
import { scratchState } from "./_instances.ts";

async function tinyBuilder(agent: boolean) {
  const g = await tinyGuest("x86_64", { agent });
  const base = vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd });
  return agent ? base.guestAgent() : base;
}

async function parentPid(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

Deno.test("startInstance runs QEMU as a daemon in a private state directory; a handle from anywhere drives it, and stop asks the guest's agent", async () => {
  await using state = await scratchState();
  const { stateBase } = state;
  const builder = await tinyBuilder(true);
  const started = await startInstance("lib", builder, { stateBase });
  const dir = `${stateBase}/lib`;
  assert.equal(started.dir, dir);
  assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);

  const web = await openInstance("lib", { stateBase });
  const { status, pid } = await web.status();
  assert.equal(status, "running");
  assert.notEqual(await parentPid(pid!), Deno.pid, "QEMU is no child of this process");
  const record = await web.record();
  // An instance reboots with its guest (QEMU's default) unless the VM says otherwise.
  assert.deepEqual(record.description, { ...builder.toJSON(), noReboot: false });
  assert.deepEqual([record.arch, record.cpus, record.memoryMiB, record.agent], [
    "x86_64",
    1,
    256,
    true,
  ]);
  assert.equal(record.lastStart?.pid, pid);
  const argv = record.lastStart!.argv;
  assert.ok(argv.includes("-daemonize"));
  assert.equal(argv[argv.indexOf("-pidfile") + 1], `${dir}/qemu.pid`);
  assert.equal(argv[argv.indexOf("-D") + 1], `${dir}/qemu.log`);

  const ready = await web.ready({ timeout: 60_000 });
  assert.deepEqual(ready.stages.map((s) => s.stage), ["agent"]);
  {
    await using agent = await web.agent();
    const result = await agent.exec(["sh", "-c", "cat /proc/cmdline; exit 3"]);
    assert.equal(result.exitCode, 3);
    assert.match(result.stdout, /console=ttyS0/);
  }
  {
    // The guest reboots; the instance runs on, with the same QEMU, and its agent answers again.
    await using events = await web.qmp({ monitor: "events" });
    const reset = events.waitForEvent("RESET", { timeout: 60_000 });
    {
      await using agent = await web.agent();
      // In the background, so the agent answers for the command before the guest goes.
      const later = "(sleep 0.5; reboot) < /dev/null > /dev/null 2>&1 &";
      assert.equal((await agent.exec(["sh", "-c", later])).exitCode, 0);
    }
    assert.equal((await reset).data.guest, true);
    assert.deepEqual(await web.status(), { status: "running", pid });
    await web.ready({ timeout: 60_000 });
  }
  {
    await using qmp = await web.qmp();
    assert.equal((await qmp.execute("query-status")).status, "running");
    // The events monitor is another connection: both at once.
    await using events = await web.qmp({ monitor: "events" });
    assert.equal((await events.execute("query-status")).status, "running");
  }

  // Piped input to the console: the guest's answer comes back, then the session ends.
  let output = "";
  const decoder = new TextDecoder();
  const how = await attachConsole(web.files.consoleSocket, {
    input: ReadableStream.from([new TextEncoder().encode("echo piped-$((2+3))\n")]),
    output: new WritableStream({ write: (chunk) => void (output += decoder.decode(chunk)) }),
    terminal: false,
  });
  assert.equal(how, "input-ended");
  assert.match(output, /piped-5/);

  await assert.rejects(startInstance("lib", builder, { stateBase }), {
    name: "InstanceStatusError",
    message:
      `Cannot start instance "lib": it is running already (QEMU pid ${pid}); stop it first (vmkit stop lib)`,
  });
  await assert.rejects(web.delete(), InstanceStatusError);

  const stopped = await web.stop();
  assert.equal(stopped.method, "agent");
  assert.deepEqual(await web.status(), { status: "stopped" });
  for (const file of STALE_FILES) {
    await assert.rejects(Deno.lstat(`${dir}/${file}`), Deno.errors.NotFound, file);
  }
  assert.equal((await web.stop()).method, "already-stopped");
  await assert.rejects(web.qmp(), {
    name: "InstanceStatusError",
    message:
      `Cannot connect to the QMP monitor of instance "lib": it is stopped; start it first (vmkit start lib)`,
  });

  // A start QEMU refuses leaves the record as the last good start wrote it.
  const good = await web.record();
  await assert.rejects(
    startInstance("lib", builder.arg("-device", "no-such-device"), { stateBase }),
    { name: "VmLaunchError", message: /'no-such-device' is not a valid device model name/ },
  );
  assert.deepEqual(await web.record(), good);

  // Without a builder, a start boots what the record saved.
  await startInstance("lib", undefined, { stateBase });
  assert.equal((await web.status()).status, "running");
  assert.equal((await web.stop({ force: true })).method, "quit");
  await web.delete();
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  assert.deepEqual(await listInstances({ stateBase }), []);
});

Deno.test("stop presses the power button of a guest without an agent", async () => {
  await using state = await scratchState();
  const plain = await startInstance("plain", await tinyBuilder(false), {
    stateBase: state.stateBase,
  });
  assert.deepEqual((await plain.ready()).stages, []);
  // The guest's init must be up to hear the button.
  const log = `${plain.dir}/console.log`;
  const end = performance.now() + 30_000;
  while (!(await Deno.readTextFile(log)).includes("vmkit: guest ready")) {
    assert.ok(performance.now() < end, "the guest did not boot within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stopped = await plain.stop({ timeout: 20_000 });
  assert.equal(stopped.method, "powerdown");
  assert.equal((await plain.status()).status, "stopped");
});

Deno.test("startInstance refuses what cannot run in the background, before QEMU starts", async () => {
  await using state = await scratchState();
  const { stateBase } = state;
  const builder = await tinyBuilder(true);
  await assert.rejects(
    startInstance(
      "seeded",
      builder.network({ type: "user" }).cloudInit({ via: "http" }),
      { stateBase },
    ),
    {
      name: "TypeError",
      message:
        `Cannot start instance "seeded" in the background: its cloud-init seed is served over HTTP (via: "http") by vmkit, which exits once the instance runs; use the disk seed (via: "disk", the default)`,
    },
  );
  const kernel = builder.toJSON().kernel!;
  const relativeKernel = relative(Deno.cwd(), kernel.path);
  await assert.rejects(
    startInstance("relative", builder.kernel(relativeKernel, { initrd: kernel.initrd }), {
      stateBase,
    }),
    {
      name: "TypeError",
      message:
        `Cannot start instance "relative": kernel "${relativeKernel}" is a relative path, and a background QEMU runs from "/"; give an absolute path`,
    },
  );
  // A first start that failed leaves no instance behind.
  assert.deepEqual(await listInstances({ stateBase }), []);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(stateBase)), []);
});

Deno.test("instance names are letters, digits, -, _ and ., and short enough for their sockets", () => {
  const options = { stateBase: "/tmp/vmkit-names" };
  for (const name of ["web", "web-1", "a.b_c", "1", "X"]) {
    assert.equal(checkInstanceName(name, options), name);
  }
  for (const name of ["", ".x", "-x", "a/b", "a b", "a:b", "ü", "a\nb"]) {
    assert.throws(() => checkInstanceName(name, options), {
      name: "TypeError",
      message: `Cannot use instance name ${
        JSON.stringify(name)
      }: use letters, digits, "-", "_" and ".", not starting with "." or "-"`,
    });
  }
  // "/tmp/vmkit-names/" + NAME + "/console.sock" holds 107 bytes at most: 77 characters.
  assert.equal(checkInstanceName("n".repeat(77), options), "n".repeat(77));
  assert.throws(() => checkInstanceName("n".repeat(78), options), {
    name: "RangeError",
    message: `Cannot use instance name "${"n".repeat(78)}": its console socket "/tmp/vmkit-names/${
      "n".repeat(78)
    }/console.sock" would be 108 bytes, and a unix socket path holds at most 107; use a name of at most 77 characters here, or keep instances in a shorter directory (set XDG_STATE_HOME, or pass stateBase)`,
  });
  assert.equal(instanceDir("web", options), "/tmp/vmkit-names/web");
  assert.equal(instanceStateBase({ stateBase: "/tmp/x/" }), "/tmp/x");
});

Deno.test("the instance lock: a second holder is told who holds it, and the lock of a killed holder is taken", async () => {
  await using state = await scratchState();
  const dir = `${state.stateBase}/locked`;
  await Deno.mkdir(dir, { recursive: true });
  {
    using _held = await lockInstance(dir, "locked", "start");
    await assert.rejects(lockInstance(dir, "locked", "stop"), {
      name: "InstanceBusyError",
      message:
        `Cannot stop instance "locked": another process (pid ${Deno.pid}, running "start") holds its lock; wait for it to finish, or end it (its lock goes with it)`,
    });
  }
  // Released: taken again at once.
  (await lockInstance(dir, "locked", "stop")).release();

  const lockModule = new URL("../../lib/instance/_lock.ts", import.meta.url).href;
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { lockInstance } from ${JSON.stringify(lockModule)};
       await lockInstance(${JSON.stringify(dir)}, "locked", "start");
       console.log("held");
       setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "held");
  const busy = await lockInstance(dir, "locked", "delete").catch((error) => error);
  assert.ok(busy instanceof InstanceBusyError, String(busy));
  assert.equal(busy.holderPid, holder.pid);
  assert.equal(busy.holderAction, "start");
  holder.kill("SIGKILL");
  await holder.status;
  await reader.cancel();
  using lock = await lockInstance(dir, "locked", "delete");
  assert.match(await Deno.readTextFile(`${dir}/lock`), new RegExp(`^${Deno.pid} delete\n$`));
  lock.release();
});

Deno.test("an instance whose record cannot be read is listed as broken, can be deleted, and a start with its VM writes the record anew", async () => {
  await using state = await scratchState();
  const { stateBase } = state;
  const dir = `${stateBase}/wreck`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/instance.json`, "{");
  await Deno.writeTextFile(`${dir}/disk.img`, "kept");
  const [listed] = await listInstances({ stateBase });
  assert.equal(listed.status, "broken");
  assert.match((listed as { problem: string }).problem, /"wreck".*: it is not JSON/);
  const wreck = await openInstance("wreck", { stateBase });
  await assert.rejects(wreck.record(), {
    name: "SyntaxError",
    message: /vmkit start wreck FILE\), or delete the instance \(vmkit delete --force wreck\)$/,
  });
  assert.deepEqual(await wreck.status(), { status: "stopped" });
  // Nothing to boot without the VM; with it, the instance and its files are kept.
  await assert.rejects(startInstance("wreck", undefined, { stateBase }), SyntaxError);
  await assert.rejects(
    startInstance("wreck", (await tinyBuilder(false)).arg("-device", "no-such-device"), {
      stateBase,
    }),
    { name: "VmLaunchError" },
  );
  assert.equal(await Deno.readTextFile(`${dir}/disk.img`), "kept");
  await startInstance("wreck", await tinyBuilder(false), { stateBase });
  assert.equal((await wreck.record()).name, "wreck");
  assert.equal(await Deno.readTextFile(`${dir}/disk.img`), "kept");
  // Broken again while its QEMU runs: delete --force still quits it.
  await Deno.writeTextFile(`${dir}/instance.json`, "[]");
  const { pid } = await wreck.status();
  assert.equal((await listInstances({ stateBase }))[0].pid, pid);
  await wreck.delete({ force: true });
  assert.equal(await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => ""), "");
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});
