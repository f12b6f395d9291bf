import assert from "node:assert/strict";
import { tinyGuest, vm, VmReadyError } from "../../mod.ts";
import { scratchDir } from "./_disks.ts";

const ARCHES = ["x86_64", "aarch64"] as const;

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return await Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

for (const arch of ARCHES) {
  Deno.test(`shutdown() powers the ${arch} tiny guest off by its power button, and unsynced writes reach the disk`, async () => {
    await using dir = await scratchDir();
    const image = `${dir.path}/data.raw`;
    await Deno.writeFile(image, new Uint8Array(1024 * 1024));
    const guest = await tinyGuest(arch);
    const machine = await vm({ arch }).memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd })
      .drive(image, { format: "raw" })
      .launch({ timeout: 60_000 });
    // A block device's writes sit in the guest's page cache until a sync: no sync here.
    const write = await machine.console.exec("printf vmkit-unsynced-data > /dev/vda", {
      timeout: 60_000,
    });
    assert.equal(write.exitCode, 0);
    const result = await machine.shutdown();
    assert.equal(result.method, "powerdown");
    assert.equal(result.reason, "guest-shutdown");
    assert.equal(result.exit.code, 0);
    // No waiting out a timeout: the guest reacted to the first press.
    assert.ok(result.durationMs < 2000, `shutdown took ${result.durationMs} ms`);
    const head = (await Deno.readFile(image)).subarray(0, 19);
    assert.equal(new TextDecoder().decode(head), "vmkit-unsynced-data");
    // shutdown() alone cleaned up: no dispose needed.
    await assert.rejects(() => Deno.stat(machine.runtimeDir), Deno.errors.NotFound);
  });
}

Deno.test("shutdown() right after launch still powers off once the guest listens", async () => {
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
  // The guest is still booting: the first press goes unheard, a later one is not.
  const result = await machine.shutdown({ timeout: 30_000 });
  assert.equal(result.method, "powerdown");
});

for (
  const [command, reason] of [
    ["poweroff", "guest-shutdown"],
    ["reboot", "guest-reset"],
  ] as const
) {
  Deno.test(`"${command}" in the tiny guest does what it says`, async () => {
    const guest = await tinyGuest("x86_64");
    await using machine = await vm({ arch: "x86_64" }).memory("256M")
      .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
    assert.equal((await machine.console.exec("echo up")).output, "up");
    // The fast profile's -no-reboot makes a reboot end QEMU too; the event says which it was.
    const shutdown = machine.qmp.waitForEvent("SHUTDOWN", { timeout: 30_000 });
    await machine.console.send(`${command}\n`);
    assert.equal((await shutdown).data.reason, reason);
    assert.equal((await within(machine.exited, 30_000, "QEMU's exit")).code, 0);
    // Asked after the exit, QMP says why it is closed, not only that it is.
    await assert.rejects(
      () => machine.status(),
      new RegExp(
        `query-status": the connection is closed \\(QEMU exited with code 0: the guest ${
          command === "poweroff" ? "powered off" : "reset"
        }`,
      ),
    );
  });
}

Deno.test(`"halt" in the tiny guest halts it, and QEMU stays up`, async () => {
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
  assert.equal((await machine.console.exec("echo up")).output, "up");
  await machine.console.send("halt\n");
  await machine.console.expect("System halted", { timeout: 30_000 });
  assert.equal(machine.hasExited, false);
  // A halted guest ignores the power button: shutdown goes on to quit.
  const result = await machine.shutdown({ timeout: 500 });
  assert.equal(result.method, "quit");
  assert.equal(result.reason, "host-qmp-quit");
});

Deno.test("shutdown() of a guest whose kernel panicked says the guest ended it (guest-reset), not the power button", async () => {
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(guest.kernel, { initrd: guest.initrd, append: "rdinit=/nonexistent" })
    .launch({ timeout: 60_000 });
  // The panic fails readiness as soon as its line is on the console; panic=-1 then resets the
  // guest, which -no-reboot turns into QEMU's exit, a moment later: shutdown() comes between.
  await assert.rejects(machine.ready({ stages: ["console"], timeout: 60_000 }), /panicked/);
  const result = await machine.shutdown();
  assert.equal(result.method, "already-exited");
  assert.equal(result.reason, "guest-reset");
  assert.equal(result.exit.code, 0);
});

Deno.test("shutdown() without dispose releases the runtime directory at once, every time", async () => {
  const dirs: string[] = [];
  for (let i = 0; i < 20; i++) {
    const machine = await vm({ arch: "x86_64" }).accel("tcg").paused().launch();
    dirs.push(machine.runtimeDir);
    assert.equal((await machine.shutdown()).method, "quit");
    await assert.rejects(() => Deno.stat(machine.runtimeDir), Deno.errors.NotFound);
    // Disposing later is harmless.
    await machine[Symbol.asyncDispose]();
  }
  assert.equal(new Set(dirs).size, 20);
});

Deno.test("a guest that resets before printing anything (32 MiB: the kernel triple-faults) fails readiness naming the reset, not only QEMU's exit code 0", async () => {
  const guest = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("32M")
    .kernel(guest.kernel, { initrd: guest.initrd }).launch({ timeout: 60_000 });
  const error = await machine.ready({ stages: ["console"], timeout: 60_000 }).catch((e) => e);
  assert.ok(error instanceof VmReadyError, String(error));
  assert.equal(
    error.reason,
    "QEMU exited with code 0: the guest reset, and -no-reboot ends QEMU on a reset; it printed nothing first, as a kernel does that triple-faults early: too little memory for it, or a kernel for another machine?",
  );
  assert.equal((await machine.shutdown()).reason, "guest-reset");
});
