// The VM operation recipes, run through their shebangs as users run them, on the tiny guest.
import assert from "node:assert/strict";

import { runRecipe } from "./_run.ts";

// Recipes work from any directory: these run them from /, not from the checkout.
const run = (name: string, args: string[] = []) => runRecipe(name, args, { cwd: "/" });

Deno.test("recipes/demo.ts, the README's main job, boots the tiny guest, drives it and shuts it down", async () => {
  const { code, stdout, stderr } = await run("demo.ts");
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^accelerator: tcg \(.+\)$/m);
  assert.match(stdout, /^\$ uname -a\nLinux vmkit .* x86_64 GNU\/Linux$/m);
  // No virtio device in this VM: only the power button's drivers are loaded.
  assert.match(
    stdout,
    /cut -d' ' -f1 \/proc\/modules\n[\d.]+ [\d.]+\n(evdev\nbutton|button\nevdev)$/m,
  );
  assert.match(stdout, /^query-status: \{"status":"running"/m);
  assert.match(stdout, /^boot to first command: \d+ ms$/m);
  assert.match(stdout, /^shutdown: powerdown in \d+ ms \(exit code 0\)$/m);
  await assert.rejects(Deno.stat("/tmp/vmkit-demo"), Deno.errors.NotFound);
});

Deno.test("recipes/demo.ts answers a wrong flag or arch with its usage and exit code 2", async () => {
  for (
    const [args, message] of [
      [["--arhc", "x"], /^demo: Cannot parse the flags: Unknown option '--arhc'/],
      [
        ["--arch", "riscv64"],
        /^demo: Cannot boot the tiny guest for arch "riscv64": use x86_64 or aarch64$/m,
      ],
    ] as const
  ) {
    const { code, stdout, stderr } = await run("demo.ts", [...args]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.match(stderr, message);
    assert.match(stderr, /^usage: demo\.ts \[--arch x86_64\|aarch64\]$/m);
    assert.doesNotMatch(stderr, /\bat /);
  }
});

Deno.test("recipes/hotplug-disk.ts adds a disk the guest sees, then removes it", async () => {
  const { code, stdout, stderr } = await run("hotplug-disk.ts");
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^guest disks: \(none\)$/m);
  assert.match(stdout, /^added disk0 \(qcow2, slot vmkit-hp0\) in \d+ ms; guest disks: vda$/m);
  assert.match(stdout, /^131072 sectors$/m);
  assert.match(stdout, /^removed disk0; guest disks: \(none\)$/m);
  await assert.rejects(Deno.stat("/tmp/vmkit-hp"), Deno.errors.NotFound);
});

Deno.test("recipes/snapshot.ts reads the file as it was when the snapshot was saved", async () => {
  const { code, stdout, stderr } = await run("snapshot.ts");
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^now: written after the snapshot$/m);
  assert.match(stdout, /loaded "before" in \d+ ms\nnow: written before the snapshot$/m);
  assert.match(stdout, /^snapshots left: 0$/m);
  await assert.rejects(Deno.stat("/tmp/vmkit-snap"), Deno.errors.NotFound);
});

Deno.test("recipes/live-migrate.ts moves the guest and its file to a second QEMU", async () => {
  const { code, stdout, stderr } = await run("live-migrate.ts");
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^destination \(pid \d+\) is inmigrate$/m);
  assert.match(stdout, /^migrated [\d.]+ MiB in \d+ ms, downtime \d+ ms$/m);
  assert.match(stdout, /^source exited: true; destination is running$/m);
  assert.match(stdout, /destination\$ cat \/tmp\/note\nhello from the source$/m);
  await assert.rejects(Deno.stat("/tmp/vm-m"), Deno.errors.NotFound);
});
