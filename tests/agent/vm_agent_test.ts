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
  const result = await guest.shutdown({ timeout: 30_000 });
  assert.equal(result.method, "agent");
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
  assert.match(error.reason, /has not opened the agent's port/);
  assert.match(error.consoleTail, /vmkit: guest ready|no qemu-ga/);
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
  assert.deepEqual((await guest.ready()).stages.map((s) => s.name), ["qemu"]);
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
