// `vmkit kernel` as a kernel developer runs it: a subprocess from another directory, with the
// tiny guest's Debian kernel, real QEMU, and the mistakes people make.
import assert from "node:assert/strict";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { spawnVmkit, vmkit as runVmkit, type VmkitRun } from "./_vmkit.ts";

const guest = await tinyGuest("x86_64");
const arm = await tinyGuest("aarch64").catch(() => undefined);

/** Runs vmkit in a temporary directory, as a user would; `input` is piped to stdin. */
async function vmkit(args: string[], input?: string): Promise<VmkitRun> {
  const cwd = await Deno.makeTempDir({ prefix: "vmkit-cli-kernel-" });
  try {
    return await runVmkit(args, { cwd, input });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/** Text as a regular expression that matches only it. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A kernel option only this run's QEMU has, to find it with pgrep. */
function tag(): string {
  return `vmkit.test=${crypto.randomUUID().slice(0, 8)}`;
}

async function assertNoQemu(mark: string): Promise<void> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-af", mark], stdout: "piped" })
    .output();
  const left = new TextDecoder().decode(stdout).split("\n").filter((l) => l.includes("qemu"));
  assert.deepEqual(left, [], "no QEMU of this run is left");
}

Deno.test("vmkit kernel runs a command as the guest's job and exits with its status", async () => {
  const mark = tag();
  const ok = await vmkit(["kernel", guest.kernel, "--append", mark, "--", "true"]);
  assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "", ""]);
  // vmtest's spelling: -k KERNEL and the command as one shell line.
  const three = await vmkit(["kernel", "-k", guest.kernel, "-a", mark, "uname -m; exit 3"]);
  assert.deepEqual([three.code, three.stdout, three.stderr], [3, "x86_64\n", ""]);
  await assertNoQemu(mark);
});

Deno.test("vmkit kernel reports a guest kernel panic as such, with exit 125 and the panic line", async () => {
  const mark = tag();
  const started = performance.now();
  const { code, stdout, stderr } = await vmkit([
    "kernel",
    guest.kernel,
    "--append",
    mark,
    "--",
    "sh",
    "-c",
    "echo c > /proc/sysrq-trigger; sleep 600",
  ]);
  assert.equal(code, 125, stderr);
  assert.equal(
    stderr,
    'vmkit: Cannot run "sh -c echo c > /proc/sysrq-trigger; sleep 600" in the guest: the guest kernel panicked: Kernel panic - not syncing: sysrq triggered crash\n',
  );
  // The kernel printed it during the job: it came on stdout as it was printed, once.
  assert.match(stdout, /^\[[ .0-9]+\] Kernel panic - not syncing: sysrq triggered crash$/m);
  assert.match(stdout, /Call Trace:/);
  assert.ok(performance.now() - started < 60_000, "a panic ends the run at once");
  await assertNoQemu(mark);
});

Deno.test("vmkit kernel prints the command's output as the guest prints it, and Ctrl-C shuts the guest down and exits 130", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-cli-kernel-" });
  await Deno.mkdir(`${dir}/tmp`);
  const mark = tag();
  const child = spawnVmkit([
    "kernel",
    guest.kernel,
    "-a",
    mark,
    "--timeout",
    "60",
    "--",
    "sh",
    "-c",
    "trap 'echo stopping; exit 0' HUP TERM; echo first; sleep 2; echo second; sleep 600 & wait",
  ], { cwd: dir, env: { TMPDIR: `${dir}/tmp`, XDG_RUNTIME_DIR: `${dir}/tmp` }, stdin: "null" });
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  try {
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    /** Reads stdout until it holds `text`; returns when it did. */
    const until = async (text: string): Promise<number> => {
      while (!stdout.includes(text)) {
        const { value, done } = await reader.read();
        if (done) {
          assert.fail(`stdout ended before ${JSON.stringify(text)}: ${stdout}${await stderr}`);
        }
        stdout += value;
      }
      return performance.now();
    };
    const first = await until("first\n");
    assert.ok(!exited, "the first line came while vmkit ran");
    const second = await until("second\n");
    assert.ok(
      second - first > 1500,
      "the first line came as the guest printed it, not with the second",
    );
    child.kill("SIGINT");
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      stdout += read.value;
    }
    assert.equal((await status).code, 130, await stderr);
    assert.equal(await stderr, "vmkit: Interrupted by SIGINT: the VM was shut down\n");
    // The guest's init stopped the job's processes (its trap ran), then the kernel powered off.
    assert.match(stdout, /^first\nsecond\nstopping\n/);
    assert.match(stdout, /reboot: Power down/);
    await assertNoQemu(mark);
    assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], [], "nothing is left in TMPDIR");
  } finally {
    // A failed assertion leaves vmkit running: Ctrl-C ends it and its VM.
    if (!exited) child.kill("SIGINT");
    await status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmkit kernel without a command gives the guest's shell on the console, and exits with its status", async () => {
  const mark = tag();
  const { code, stdout, stderr } = await vmkit(
    ["kernel", guest.kernel, "--append", mark, "--memory", "256M", "--cpus", "1"],
    "echo hello-$((6*7))\nexit 5\n",
  );
  assert.equal(code, 5, `the shell's exit status: ${stdout}${stderr}`);
  assert.equal(stderr, "");
  assert.match(stdout, /^hello-42\r?$/m, "the piped line ran in the guest's shell");
  assert.match(stdout, /reboot: Power down/, "exit powered the guest off");
  await assertNoQemu(mark);
});

Deno.test("vmkit kernel refuses the mistakes people make, with exit 2 and what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = `${dir}/bzImage`;
    await Deno.writeTextFile(text, "not a kernel at all\n".repeat(100));
    const cases: [string[], RegExp][] = [
      [
        ["kernel", `${dir}/missing-bzImage`, "--", "true"],
        /^vmkit: Cannot boot kernel ".*missing-bzImage": the file does not exist/,
      ],
      [
        ["kernel", text, "--", "true"],
        /^vmkit: Cannot boot kernel ".*bzImage": it is not a Linux kernel image/,
      ],
      [
        ["kernel", guest.kernel, "--arch", "aarch64", "--", "true"],
        /^vmkit: Cannot boot kernel ".*" as aarch64: it is a kernel for x86_64 \(elf\); drop --arch/,
      ],
      [
        ["kernel", guest.kernel, "--memory", "1", "GB", "--", "true"],
        /^vmkit: Cannot use --memory "1": that is 1 MiB, too little to boot Linux .*1G, not 1 GB/,
      ],
      [
        ["kernel", guest.kernel, "--memory", "64M", "--", "true"],
        /^vmkit: Cannot use --memory "64M": that is 64 MiB, and vmkit kernel's guest needs at least 80M .*; give -m 80M or more\n$/,
      ],
      [
        // vng's -r (the kernel) after the command's first word: the command lacks its --.
        ["kernel", guest.kernel, "uname", "-r"],
        new RegExp(`^${
          escapeRegExp(
            `vmkit: Cannot tell the command from the kernel: ["uname","-r"] before --; put the command after -- (vmkit kernel's own options, such as -m, -a and -r, go before it), as in: vmkit kernel ${guest.kernel} -- uname -r\n`,
          )
        }$`),
      ],
      [
        ["kernel", "-k", guest.kernel, "ls", "-la", "/"],
        /before --; .* as in: vmkit kernel \S+ -- ls -la \/\n$/,
      ],
      [
        ["kernel", guest.kernel, "--memroy", "1G"],
        /unknown option '--memroy'\n\(Did you mean --memory\?\)/,
      ],
      [
        ["kernel", guest.kernel, "--arch", "sparc"],
        /^vmkit: Cannot use --arch "sparc": give x86_64 or aarch64/,
      ],
      [
        ["kernel", "--", "true"],
        /^vmkit: Cannot boot a kernel: name its file, as in: vmkit kernel/,
      ],
    ];
    if (arm !== undefined) {
      cases.push([
        ["kernel", arm.kernel, "--arch", "x86_64", "--", "true"],
        /^vmkit: Cannot boot kernel ".*" as x86_64: it is a kernel for aarch64 \(arm64-image\)/,
      ]);
    }
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await vmkit(args);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.equal(stdout, "");
      assert.match(stderr, message, args.join(" "));
      assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmkit kernel explains a kernel whose modules lack the virtio console the job reports on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // modules_install of a kernel with no virtio modules: the right release, nothing in it.
    const release = guest.modulesDir!.split("/").pop()!;
    await Deno.mkdir(`${dir}/lib/modules/${release}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/lib/modules/${release}/modules.dep`, "");
    const mark = tag();
    const { code, stderr } = await vmkit([
      "kernel",
      guest.kernel,
      "--modules",
      dir,
      "-a",
      mark,
      "--",
      "true",
    ]);
    assert.equal(code, 125, stderr);
    assert.match(
      stderr,
      /^vmkit: Cannot run "true" in the guest: the guest has no virtio console, so the job cannot report its status; the modules of .* lack virtio_console or virtio_pci\n$/,
    );
    const other = await vmkit(["kernel", guest.kernel, "--modules", `${dir}/lib`, "--", "true"]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /^vmkit: Cannot use --modules ".*\/lib": it has no modules\.dep/);
    await assertNoQemu(mark);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmkit kernel stops quietly with 141 when the reader of its output goes away, as on SIGPIPE", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-cli-kernel-" });
  const mark = tag();
  // vmkit kernel ... -- CMD | head -1: head exits after the first line.
  const child = spawnVmkit([
    "kernel",
    guest.kernel,
    "-a",
    mark,
    "--timeout",
    "60",
    "--",
    "echo first; sleep 1; echo second; sleep 600",
  ], { cwd: dir, stdin: "null" });
  try {
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    while (!stdout.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`stdout ended before its first line: ${stdout}${await stderr}`);
      stdout += value;
    }
    await reader.cancel();
    const started = performance.now();
    const { code } = await child.status;
    assert.equal(stdout, "first\n");
    assert.equal(code, 141, await stderr);
    assert.equal(await stderr, "", "no message, as other tools say nothing");
    assert.ok(performance.now() - started < 20_000, "the guest was shut down, not left to run");
    await assertNoQemu(mark);
  } finally {
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmkit kernel's time limit and a guest out of memory each say so in one line", async () => {
  const mark = tag();
  const late = await vmkit(["kernel", guest.kernel, "-a", mark, "--timeout", "1", "--", "true"]);
  assert.equal(late.code, 125);
  assert.equal(
    late.stderr,
    'vmkit: Cannot run "true" in the guest: it did not finish within 1 s (--timeout); the VM was killed\n',
    "no blank line before it",
  );
  // mem= leaves the kernel 48 of the 96 MiB: it panics before init, as with -m 48M.
  const small = await vmkit(["kernel", guest.kernel, "-m", "96M", "-a", `mem=48M ${mark}`, "true"]);
  assert.equal(small.code, 125, small.stderr);
  assert.match(
    small.stderr,
    /^vmkit: Cannot run "true" in the guest: the guest kernel panicked: Kernel panic - not syncing: .*memory; the guest ran out of its 96 MiB of memory: give it more with -m 512M\n$/m,
  );
  await assertNoQemu(mark);
});
