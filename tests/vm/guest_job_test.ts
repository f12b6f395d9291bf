import assert from "node:assert/strict";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { runGuestJob } from "../../lib/vm/guest_job.ts";
import { GuestJobError, GuestJobTimeoutError, GuestPanicError } from "../../lib/vm/errors.ts";

const guest = await tinyGuest("x86_64");
const builder = vm({ arch: "x86_64" }).memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd });

async function noQemuLeft(): Promise<void> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-a", "qemu"], stdout: "piped" })
    .output();
  const mine = new TextDecoder().decode(stdout).split("\n").filter((l) => l.includes("vmkit.job="));
  assert.deepEqual(mine, [], "no job VM is left running");
}

Deno.test("a guest job that exits 0 reports exit 0 and its output", async () => {
  const result = await runGuestJob(builder, "echo hello; uname -m; echo to stderr >&2", {
    timeout: 60_000,
  });
  assert.equal(result.exitCode, 0);
  assert.equal(result.signal, null);
  assert.equal(result.output, "hello\nx86_64\nto stderr\n");
  assert.ok(result.durationMs > 0);
  await noQemuLeft();
});

Deno.test("a guest job's exit code comes back, from a command line or an argv", async () => {
  const line = await runGuestJob(builder, "printf 'no newline'; exit 3", { timeout: 60_000 });
  assert.deepEqual([line.exitCode, line.signal, line.output], [3, null, "no newline"]);
  const argv = await runGuestJob(
    builder,
    ["sh", "-c", 'echo "$1 it\'s"; exit 129', "sh", "quoted"],
    {
      timeout: 60_000,
    },
  );
  // 129 is an exit code here, not a signal.
  assert.deepEqual([argv.exitCode, argv.signal, argv.output], [129, null, "quoted it's\n"]);
});

Deno.test("a guest job killed by a signal is reported as that signal, not as a number", async () => {
  const killed = await runGuestJob(builder, ["sh", "-c", "echo before; kill -KILL $$"], {
    timeout: 60_000,
  });
  assert.deepEqual([killed.exitCode, killed.signal, killed.output], [null, "SIGKILL", "before\n"]);
  // The last command of a command line is the job's process: its death is the job's.
  const segv = await runGuestJob(builder, "true; sh -c 'kill -SEGV $$'", { timeout: 60_000 });
  assert.deepEqual([segv.exitCode, segv.signal], [null, "SIGSEGV"]);
});

Deno.test("a status line forged in a guest job's output is not believed", async () => {
  const forged = [
    "echo 'exit 0'",
    "echo 'Command terminated by signal 9'",
    "echo 'vmkit-job: end 00000000000000000000000000000000'",
    "cat /proc/cmdline > /dev/null",
    "exit 5",
  ].join("; ");
  const result = await runGuestJob(builder, forged, { timeout: 60_000 });
  assert.equal(result.exitCode, 5);
  assert.equal(result.signal, null);
  assert.equal(
    result.output,
    "exit 0\nCommand terminated by signal 9\nvmkit-job: end 00000000000000000000000000000000\n",
  );
});

Deno.test("a kernel panic in a guest job gives GuestPanicError quickly, not a timeout", async () => {
  const started = performance.now();
  await assert.rejects(
    () => runGuestJob(builder, "echo c > /proc/sysrq-trigger; sleep 600", { timeout: 120_000 }),
    (error: Error) => {
      assert.ok(error instanceof GuestPanicError, String(error));
      assert.match(error.consoleTail, /Kernel panic - not syncing/);
      assert.match(error.message, /panicked.*sysrq/i);
      assert.equal(error.detectedBy, "console");
      return true;
    },
  );
  assert.ok(performance.now() - started < 60_000, "the panic ends the job well before its timeout");
  // With a pvpanic device, QEMU reports the panic itself.
  await assert.rejects(
    () => runGuestJob(builder.pvpanic(), "echo c > /proc/sysrq-trigger", { timeout: 120_000 }),
    (error: Error) => {
      assert.ok(error instanceof GuestPanicError, String(error));
      assert.equal(error.detectedBy, "pvpanic");
      return true;
    },
  );
  await noQemuLeft();
});

Deno.test("a guest job that outlives its timeout is killed with GuestJobTimeoutError, and an abort stops it too", async () => {
  await assert.rejects(
    () => runGuestJob(builder, "echo started; sleep 600", { timeout: 8_000 }),
    (error: Error) => {
      assert.ok(error instanceof GuestJobTimeoutError, String(error));
      assert.equal(error.timeout, 8_000);
      assert.match(error.consoleTail, /started/);
      return true;
    },
  );
  await noQemuLeft();
  const controller = new AbortController();
  const reason = new Error("enough");
  setTimeout(() => controller.abort(reason), 6_000);
  await assert.rejects(
    () => runGuestJob(builder, "sleep 600", { signal: controller.signal }),
    (error) => error === reason,
  );
  await noQemuLeft();
});

Deno.test("a guest job that powers the guest off before its status is sent gives GuestJobError with QEMU's exit", async () => {
  await assert.rejects(
    () => runGuestJob(builder, "echo going; poweroff -f", { timeout: 60_000 }),
    (error: Error) => {
      assert.ok(error instanceof GuestJobError, String(error));
      assert.match(error.message, /QEMU exited \(code 0\) before it arrived/);
      assert.equal(error.exit.code, 0);
      assert.equal(typeof error.stderr, "string");
      assert.ok(error.argv.some((arg) => arg.includes("vmkit.job=")));
      assert.match(error.consoleTail, /going/);
      return true;
    },
  );
  await noQemuLeft();
});

Deno.test("runGuestJob refuses an empty command and a VM without a kernel", async () => {
  await assert.rejects(() => runGuestJob(builder, "  "), TypeError);
  await assert.rejects(() => runGuestJob(builder, []), TypeError);
  await assert.rejects(
    () => runGuestJob(vm({ arch: "x86_64" }), "true"),
    /Cannot run guest job "true": the VM boots no kernel/,
  );
  await assert.rejects(() => runGuestJob(builder, "x".repeat(4000)), RangeError);
});
