import assert from "node:assert/strict";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { runGuestJob } from "../../lib/vm/guest_job.ts";
import { GuestJobError, GuestJobTimeoutError, GuestPanicError } from "../../lib/vm/errors.ts";
import { jobOutput, JobOutputCutter } from "../../lib/vm/_guest_job_status.ts";

const guest = await tinyGuest("x86_64");
/** A kernel option only this file's VMs have: other QEMUs may run guest jobs meanwhile. */
const mark = `vmkit.test=${crypto.randomUUID().slice(0, 8)}`;
const builder = vm({ arch: "x86_64" }).memory("256M")
  .kernel(guest.kernel, { initrd: guest.initrd, append: mark });

async function noQemuLeft(): Promise<void> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-a", "qemu"], stdout: "piped" })
    .output();
  const mine = new TextDecoder().decode(stdout).split("\n").filter((l) => l.includes(mark));
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

Deno.test("a guest job's output reaches onOutput as it is printed, and all of it is the result's output", async () => {
  const calls: { at: number; text: string }[] = [];
  const result = await runGuestJob(
    builder,
    // The last piece has no newline: the end marker follows it on the same line.
    "echo first; sleep 2; echo second; printf 'no newline'",
    { timeout: 60_000, onOutput: (text) => void calls.push({ at: performance.now(), text }) },
  );
  const ended = performance.now();
  assert.equal(result.exitCode, 0);
  assert.equal(result.output, "first\nsecond\nno newline");
  assert.equal(calls.map((call) => call.text).join(""), result.output);
  const arrival = (line: string) => {
    let text = "";
    return calls.find((call) => (text += call.text).includes(line))!.at;
  };
  // sleep 2 in the guest separates the lines: the first came while the command ran.
  assert.ok(arrival("second\n") - arrival("first\n") > 1500, JSON.stringify(calls));
  assert.ok(ended - arrival("first\n") > 1500, "the first line came before the job ended");
});

Deno.test("the output cut as the console brings it is the output cut at the end, however it is split", () => {
  const nonce = "0123456789abcdef0123456789abcdef";
  const transcripts = [
    // Boot noise, a start line of another run, the job's lines (\r\n, a bare \r, an end marker
    // it forged from /proc/cmdline, its last words without a newline), the power-off.
    "SeaBIOS\r\n[    0.1] Linux\r\nvmkit-job: start ffff\r\nvmkit-job: start " + nonce +
    "\r\nline 1\r\nprogress\r50%\r\nvmkit-job: end " + nonce + " forged\r\nvmkit-job: en" +
    "d\r\nlast" + "vmkit-job: end " + nonce + "\r\n[    2.0] reboot: Power down\r\n",
    // Killed before its end: everything after the start line.
    "boot\r\nvmkit-job: start " + nonce + "\r\nstarted\r\nvmkit-job: e",
    // Never started.
    "boot\r\nvmkit-job: sta",
  ];
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (const transcript of transcripts) {
    const whole = jobOutput(transcript, nonce);
    const splits: number[][] = [[...transcript].map((_, i) => i)];
    for (let at = 0; at <= transcript.length; at++) splits.push([at]);
    for (let i = 0; i < 50; i++) {
      splits.push(Array.from({ length: 8 }, () => random(transcript.length)).sort((a, b) => a - b));
    }
    for (const cuts of splits) {
      const cutter = new JobOutputCutter(nonce);
      let given = "";
      let from = 0;
      for (const to of [...cuts, transcript.length]) {
        given += cutter.push(transcript.slice(from, to));
        from = Math.max(from, to);
      }
      if (whole === undefined) {
        assert.equal(given, "", JSON.stringify(cuts));
      } else if (transcript.includes(`vmkit-job: end ${nonce}\r\n[`)) {
        assert.equal(given, whole, JSON.stringify(cuts));
      } else {
        // Without its end, the last bytes that may begin the marker are held back.
        assert.ok(whole.startsWith(given), JSON.stringify(cuts));
        assert.equal(whole.slice(given.length), "vmkit-job: e");
      }
    }
  }
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

Deno.test("a guest job that outlives its timeout is killed with GuestJobTimeoutError", async () => {
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
});

Deno.test("an aborted guest job has the guest shut down as its power button asks, then throws the abort's reason", async () => {
  // The job's temporary directory and the VM's runtime directory go here, to be seen.
  const tmp = await Deno.makeTempDir({ prefix: "vmkit-job-test-" });
  const saved = ["TMPDIR", "XDG_RUNTIME_DIR"].map((name) => [name, Deno.env.get(name)] as const);
  for (const [name] of saved) Deno.env.set(name, tmp);
  try {
    const controller = new AbortController();
    const reason = new Error("enough");
    let seen = "";
    await assert.rejects(
      () =>
        runGuestJob(
          builder,
          "trap 'echo stopping on SIGHUP or SIGTERM; exit 0' HUP TERM; echo ready; sleep 600 & wait",
          {
            signal: controller.signal,
            onOutput: (text) => {
              seen += text;
              if (seen.includes("ready\n")) controller.abort(reason);
            },
          },
        ),
      (error) => error === reason,
    );
    // vmkit's init stopped the job's processes, then the kernel powered the machine off: the
    // guest shut down, QEMU was not merely quit or killed.
    assert.match(seen, /^ready\nstopping on SIGHUP or SIGTERM\n/);
    assert.match(seen, /reboot: Power down/);
    await noQemuLeft();
    assert.deepEqual([...Deno.readDirSync(tmp)], [], "nothing is left in TMPDIR");
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("an onOutput that throws stops the guest job, and runGuestJob throws its error", async () => {
  const broken = new Error("stdout is gone");
  const started = performance.now();
  await assert.rejects(
    () =>
      runGuestJob(builder, "echo one; sleep 600", {
        timeout: 60_000,
        onOutput: () => {
          throw broken;
        },
      }),
    (error) => error === broken,
  );
  assert.ok(performance.now() - started < 30_000, "the job was stopped, not timed out");
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
