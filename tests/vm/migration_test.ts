import assert from "node:assert/strict";
import { tinyGuest, vm, VmMigrationError } from "../../mod.ts";

Deno.test("the tiny guest migrates live to a second QEMU, which answers on its console", async () => {
  const guest = await tinyGuest("x86_64");
  const builder = vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd });
  await using source = await builder.launch({ timeout: 60_000 });
  await source.console.exec("echo moved > /tmp/file");
  await using destination = await builder.incoming().launch({ timeout: 60_000 });
  assert.equal(await destination.status(), "inmigrate");

  const stats = await source.migrateTo(destination, { timeout: 60_000 });
  assert.ok(stats.transferredBytes > 1 << 20, `${stats.transferredBytes} bytes sent`);
  assert.ok(stats.ramBytes >= 256 * 2 ** 20);
  assert.ok(stats.totalTimeMs > 0 && stats.downtimeMs >= 0);
  assert.equal(await destination.status(), "running");
  assert.equal((await destination.console.exec("cat /tmp/file")).output, "moved");
  assert.ok(source.hasExited, "the source quits after a migration");
  assert.equal((await source.exited).code, 0);
});

Deno.test("a migration to nowhere, or to a VM not waiting for one, fails with the source running", async () => {
  const guest = await tinyGuest("x86_64");
  const builder = vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd });
  await using source = await builder.launch({ timeout: 60_000 });
  await using other = await builder.launch({ timeout: 60_000 });
  const error = await source.migrateTo("unix:/tmp/vmkit-test-nobody-listens.sock").catch((e) => e);
  assert.ok(error instanceof VmMigrationError, String(error));
  assert.equal(error.status, "failed");
  assert.match(error.message, /No such file or directory/);
  await assert.rejects(source.migrateTo(other), {
    name: "TypeError",
    message:
      `Cannot migrate to a VM whose status is "running": build the destination with .incoming()`,
  });
  await assert.rejects(source.migrateTo(source), /to itself/);
  const aborted = new AbortController();
  await using slow = await builder.incoming().launch({ timeout: 60_000 });
  await source.qmp.execute("migrate-set-parameters", { "max-bandwidth": 1 << 20 });
  setTimeout(() => aborted.abort(new Error("stop")), 300);
  const cancelled = await source.migrateTo(slow, { signal: aborted.signal }).catch((e) => e);
  assert.ok(cancelled instanceof VmMigrationError, String(cancelled));
  assert.equal(cancelled.status, "cancelled");
  assert.equal(await source.status(), "running");
  assert.equal((await source.console.exec("echo still here")).output, "still here");
});
