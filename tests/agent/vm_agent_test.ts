import assert from "node:assert/strict";
import { GuestAgentUnavailableError, tinyGuest, vm, VmReadyError } from "../../mod.ts";
import { agentGuest } from "./_agent_guest.ts";
import { tinyGuestWith } from "../vm/_guest.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("vm.agent drives the tiny guest's qemu-ga: ready, exec, files, OS info, then a shutdown through the agent", async () => {
  const g = await agentGuest();
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd }).guestAgent().launch({ timeout: 60_000 });
  // Asked at once, while the guest boots: the command waits for the agent's port.
  const ping = guest.agent.ping({ timeout: 60_000 });
  const { stages } = await guest.ready({ stages: ["qemu", "console", "agent"], timeout: 60_000 });
  await ping;
  assert.deepEqual(stages.map((s) => s.name), ["qemu", "console", "agent"]);
  assert.equal(guest.agent.portOpen, true);
  const uname = await guest.agent.exec(["uname", "-r"]);
  assert.equal(uname.exitCode, 0);
  assert.match(uname.stdout, /^\d+\.\d+/);
  await guest.agent.writeFile("/tmp/from-host", "written by the agent\n", { mode: 0o640 });
  const seen = await guest.console.exec("cat /tmp/from-host; stat -c %a /tmp/from-host");
  assert.match(seen.output, /written by the agent\n640/);
  assert.equal(await guest.agent.readTextFile("/proc/sys/kernel/hostname"), "vmkit\n");
  const os = await guest.agent.osInfo();
  assert.equal(os["kernel-release"], uname.stdout.trim());
  const nics = await guest.agent.networkInterfaces();
  assert.ok(nics.some((nic) => nic.name === "lo"));
  await guest.agent.setTime(new Date("2031-02-03T04:05:06Z"));
  assert.match((await guest.agent.exec(["date", "-u", "+%F %H"])).stdout, /^2031-02-03 04\n$/);
  assert.equal(await guest.agent.fsfreezeStatus(), "thawed");
  // A full filesystem: a write is an error, never a short file, and a copy leaves nothing.
  await guest.agent.exec(
    "mkdir -p /mnt/s && mount -t tmpfs -o size=64k tmpfs /mnt/s && dd if=/dev/zero of=/mnt/s/fill bs=1k count=100",
  );
  await assert.rejects(
    guest.agent.writeFile("/mnt/s/small.txt", "important\n"),
    /Cannot write guest file "\/mnt\/s\/small\.txt" in the guest: no space left on its filesystem/,
  );
  const host = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(host, "x".repeat(100_000));
    await assert.rejects(
      guest.agent.copyIn(host, "/mnt/s/copy"),
      /"\/mnt\/s\/copy".*no space left/,
    );
  } finally {
    await Deno.remove(host);
  }
  assert.equal((await guest.agent.exec("ls /mnt/s")).stdout, "fill\nsmall.txt\n");
  const result = await guest.shutdown({ timeout: 30_000 });
  assert.equal(result.method, "agent");
  assert.equal(result.reason, "guest-shutdown");
  assert.equal(result.exit.code, 0);
});

Deno.test("vm.agent fails at once, naming the panic, when the guest's kernel panics during a command", async () => {
  const g = await agentGuest();
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd }).guestAgent().pvpanic().launch({ timeout: 60_000 });
  await guest.ready({ stages: ["agent"], timeout: 60_000 });
  const waiting = guest.agent.exec(["sleep", "600"], { timeout: 600_000 }).catch((e) => e);
  // Let the agent start the program, then crash the kernel from the console.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  await guest.console.send("echo c > /proc/sysrq-trigger\n");
  const error = await waiting;
  assert.ok(error instanceof GuestAgentUnavailableError, String(error));
  assert.match(error.reason, /panic/);
  assert.ok(performance.now() - started < 20_000, "at once, not at the time limit");
  await assert.rejects(guest.agent.ping(), GuestAgentUnavailableError);
});

Deno.test("an agent stage that times out before the guest opens the port says both what it waits for and that the console is silent", async () => {
  const g = await agentGuest();
  // Paused from the start: the guest never runs, so it neither opens the port nor prints.
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd }).guestAgent().paused().launch({ timeout: 60_000 });
  const error = await guest.ready({ stages: [{ stage: "agent", timeout: 500 }] }).catch((e) => e);
  assert.ok(error instanceof VmReadyError, String(error));
  assert.match(
    error.reason,
    /^not reached within 500 ms: the guest has not opened the agent's port \(org\.qemu\.guest_agent\.0\): it is still booting, or qemu-guest-agent is not installed or not running in it; the console has printed nothing since it opened \d+ ms ago$/,
  );
});

Deno.test("vm.ready names the stage that is missing, why, and the console's last lines", async () => {
  // A tiny guest without qemu-ga: the agent's port is never opened.
  await using dir = await tempDir();
  const plain = await tinyGuestWith("x86_64", dir.path, {});
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(plain.kernel, { initrd: plain.initrd }).guestAgent().launch({ timeout: 60_000 });
  const error = await guest.ready({
    stages: ["console", { stage: "agent", timeout: 8000 }],
    timeout: 60_000,
  }).catch((e) => e);
  assert.ok(error instanceof VmReadyError, String(error));
  assert.equal(error.stage, "agent");
  // The init says the image has no agent: the stage fails then, not at its time limit.
  assert.match(
    error.reason,
    /the guest has no agent: its init says "the machine has a guest agent port, but this image has no qemu-ga"/,
  );
  assert.match(error.consoleTail, /no qemu-ga/);
  await assert.rejects(guest.agent.ping(), /the guest has no agent/);
});

Deno.test("vm.ready's cloud-init stage reads cloud-init's result through the agent, names its errors, and asks cloud-init status in a guest without its marks", async () => {
  // The tiny guest has no cloud-init: the files cloud-init's generator and last stage write are
  // written here, through the real agent, one state at a time.
  const g = await agentGuest();
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd }).guestAgent().launch({ timeout: 60_000 });
  await guest.ready({ stages: ["agent"], timeout: 60_000 });
  const cloudInit = () =>
    guest.ready({ stages: ["cloud-init"], timeout: 20_000 }).then(() => "ready", (e) => e);

  // No mark at all: it asks cloud-init itself, which this guest does not have.
  const missing = await cloudInit();
  assert.ok(missing instanceof VmReadyError, String(missing));
  assert.equal(missing.stage, "cloud-init");
  assert.match(
    missing.reason,
    /the guest agent cannot run cloud-init status --wait \(is cloud-init installed in the guest\?\): .*cloud-init.*No such file/,
  );

  await guest.agent.exec("mkdir -p /run/cloud-init && touch /run/cloud-init/disabled");
  assert.equal(await cloudInit(), "ready", "disabled: nothing to wait for");

  await guest.agent.exec("rm /run/cloud-init/disabled && touch /run/cloud-init/enabled");
  let settled = false;
  const waiting = cloudInit().finally(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(settled, false, "enabled and no result yet: still waiting");
  await guest.agent.writeFile(
    "/run/cloud-init/result.json",
    JSON.stringify({ v1: { datasource: "DataSourceNoCloud", errors: [] } }),
  );
  assert.equal(await waiting, "ready");

  await guest.agent.writeFile(
    "/run/cloud-init/result.json",
    JSON.stringify({
      v1: {
        errors: ["('scripts-user', RuntimeError('Runparts: 1 failures in 1 attempted commands'))"],
      },
    }),
  );
  const failed = await cloudInit();
  assert.ok(failed instanceof VmReadyError, String(failed));
  assert.match(
    failed.reason,
    /cloud-init finished with errors \(\/run\/cloud-init\/result\.json\): \('scripts-user', RuntimeError\('Runparts: 1 failures.*; what cloud-init's commands printed is in \/var\/log\/cloud-init-output\.log in the guest$/,
  );
  // With cloud-init's output log there, its end says what the failing command printed.
  await guest.agent.exec(["mkdir", "-p", "/var/log"]);
  await guest.agent.writeFile(
    "/var/log/cloud-init-output.log",
    Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n") +
      "\n/var/lib/cloud/instance/scripts/runcmd: 2: make-it-so: not found\n",
  );
  const printed = await cloudInit();
  assert.ok(printed instanceof VmReadyError, String(printed));
  assert.match(
    printed.reason,
    /Runparts: 1 failures.*\nThe end of \/var\/log\/cloud-init-output\.log in the guest \(what cloud-init's commands printed\):\nline 6\n(.*\n){13}\/var\/lib\/cloud\/instance\/scripts\/runcmd: 2: make-it-so: not found$/,
  );

  await guest.agent.writeFile("/run/cloud-init/result.json", "{");
  const garbled = await cloudInit();
  assert.ok(garbled instanceof VmReadyError, String(garbled));
  assert.match(garbled.reason, /cannot read cloud-init's \/run\/cloud-init\/result\.json: "\{"/);
});

Deno.test("a VM built without .guestAgent() says how to get an agent", async () => {
  const plain = await tinyGuest("x86_64");
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(plain.kernel, { initrd: plain.initrd }).launch({ timeout: 60_000 });
  assert.throws(() => guest.agent, /built without one; add \.guestAgent\(\)/);
  await assert.rejects(
    guest.ready({ stages: ["agent"] }),
    /the VM has none; build it with \.guestAgent\(\)/,
  );
  await assert.rejects(
    guest.ready({ stages: ["cloud-init"] }),
    /through its agent or over ssh, and the VM has neither; build it with \.guestAgent\(\) or \.ssh\(\)/,
  );
  assert.deepEqual((await guest.ready()).stages.map((s) => s.name), ["qemu"]);
  const probe = await guest.ready({
    stages: [{ name: "thrower", probe: () => Promise.reject(new Error("boom")), timeout: 500 }],
  }).catch((e) => e);
  assert.ok(probe instanceof VmReadyError);
  assert.match(probe.reason, /not reached within 500 ms: the probe's last error: boom/);
  // A guest that printed nothing for the whole wait (here: paused) is named as silent, which
  // tells a hung guest from a slow one.
  await guest.ready({ stages: ["console"] });
  await guest.pause();
  const silent = await guest.ready({
    stages: [{ name: "never", probe: () => false, timeout: 600 }],
  }).catch((e) => e);
  await guest.resume();
  assert.ok(silent instanceof VmReadyError);
  assert.match(
    silent.reason,
    /^not reached within 600 ms: the probe never returned anything but false; the console has printed nothing for the last \d{3,} ms$/,
  );
  await assert.rejects(
    guest.ready({ stage: ["agent"] } as never),
    /with option "stage": use stages, timeout and signal/,
  );
  await assert.rejects(
    guest.ready({ stages: ["bogus" as never] }),
    /use "qemu", "console", "agent", "ssh"/,
  );
});

Deno.test("16 VMs with agents in parallel from one process: every command answered by its own guest", async () => {
  const g = await agentGuest();
  const count = 16;
  const guests = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      vm({ arch: "x86_64" }).memory("128M").name(`agent-${i}`)
        .kernel(g.kernel, { initrd: g.initrd, append: `vmkit.n=${i}` })
        .guestAgent().launch({ timeout: 120_000 })),
  );
  try {
    await Promise.all(guests.map((guest) => guest.ready({ stages: ["agent"], timeout: 300_000 })));
    // Every guest answers many commands at once, each with its own number: a reply from
    // another guest or another command would show the wrong number.
    await Promise.all(guests.map(async (guest, i) => {
      const results = await Promise.all(
        Array.from(
          { length: 5 },
          (_, k) =>
            guest.agent.exec(["sh", "-c", `echo ${i}-${k} $(cat /proc/cmdline)`], {
              timeout: 120_000,
            }),
        ),
      );
      results.forEach((result, k) => {
        assert.equal(result.exitCode, 0);
        assert.match(result.stdout, new RegExp(`^${i}-${k} .*vmkit\\.n=${i}\\b`));
      });
      await guest.agent.writeFile(`/tmp/n`, `${i}`);
      assert.equal(await guest.agent.readTextFile("/tmp/n"), `${i}`);
    }));
  } finally {
    await Promise.all(guests.map((guest) => guest.shutdown({ timeout: 30_000 })));
  }
});
