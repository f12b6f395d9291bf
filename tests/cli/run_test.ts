// `vmkit run` as users run it: a subprocess from another directory with a tiny definition,
// real QEMU, a command's status back, and Ctrl-C in the middle of a run.
import assert from "node:assert/strict";
import { spawnVmkit, vmkit, type VmkitOptions } from "./_vmkit.ts";

const decoder = new TextDecoder();

/**
 * A temporary directory holding `tiny.yaml` (the tiny guest) and `agent.yaml` (its variant with
 * the guest agent), and `tmp/` as the child's TMPDIR and XDG_RUNTIME_DIR, so what a run leaves
 * there can be seen.
 */
async function withDefinitions(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-cli-run-" });
  try {
    await Deno.mkdir(`${dir}/tmp`);
    await Deno.writeTextFile(`${dir}/tiny.yaml`, "arch: x86_64\nguest: tiny\nmemory: 256M\n");
    await Deno.writeTextFile(
      `${dir}/agent.yaml`,
      "arch: x86_64\nguest: tiny\nagent: true\nmemory: 256M\n",
    );
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs in `dir`, with `dir/tmp` as TMPDIR and XDG_RUNTIME_DIR. */
function inDir(dir: string): VmkitOptions {
  return { cwd: dir, env: { TMPDIR: `${dir}/tmp`, XDG_RUNTIME_DIR: `${dir}/tmp` } };
}

/** What a run left in its TMPDIR: nothing, when it cleaned up. */
async function leftovers(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/tmp`)) names.push(entry.name);
  return names;
}

async function qemuWith(mark: string): Promise<string[]> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-af", mark], stdout: "piped" })
    .output();
  return decoder.decode(stdout).split("\n").filter((line) => line.includes("qemu-system"));
}

Deno.test("vmkit run -- CMD runs it as the tiny guest's job and exits with its status", async () => {
  await withDefinitions(async (dir) => {
    const { code, stdout, stderr } = await vmkit([
      "run",
      "tiny.yaml",
      "--",
      "sh",
      "-c",
      "echo from the guest; exit 4",
    ], inDir(dir));
    assert.deepEqual([code, stdout, stderr], [4, "from the guest\n", ""]);
    assert.deepEqual(await leftovers(dir), [], "the disk and runtime directories are gone");
  });
});

Deno.test("vmkit run -- CMD goes through the guest agent when the definition has one, stdin with -i", async () => {
  await withDefinitions(async (dir) => {
    const { code, stdout, stderr } = await vmkit(
      ["run", "agent.yaml", "-i", "--", "sh", "-c", "tr a-z A-Z; echo to stderr >&2; exit 5"],
      { ...inDir(dir), input: "hello agent\n" },
    );
    assert.deepEqual([code, stdout, stderr], [5, "HELLO AGENT\n", "to stderr\n"]);
    assert.deepEqual(await leftovers(dir), []);
  });
});

Deno.test("Ctrl-C of a running vmkit run shuts the VM down, exits 130 and leaves nothing behind", async () => {
  await withDefinitions(async (dir) => {
    const mark = `vmkit-test-${crypto.randomUUID().slice(0, 8)}`;
    // The console run: its output is the guest's console; stdin stays open and says nothing.
    const child = spawnVmkit(
      ["run", "tiny.yaml", "--set", `args=["-name","${mark}"]`],
      { ...inDir(dir), stdin: "piped" },
    );
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("vmkit: guest ready")) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the console ended before the guest was ready: ${seen}`);
      seen += value;
    }
    assert.equal((await qemuWith(mark)).length, 1, "QEMU runs");
    child.kill("SIGINT");
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
      (async () => {
        while (!(await reader.read()).done);
      })(),
    ]);
    await child.stdin.close().catch(() => {});
    assert.equal(status.code, 130, stderr);
    assert.equal(stderr, "vmkit: Interrupted by SIGINT: the VM was shut down\n");
    assert.deepEqual(await qemuWith(mark), [], "no QEMU is left");
    assert.deepEqual(await leftovers(dir), [], "no directory is left");
  });
});

Deno.test("SIGHUP (the terminal closed) during vmkit run -- CMD shuts the VM down, exits 129 and removes its disks", async () => {
  await withDefinitions(async (dir) => {
    const mark = `vmkit-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(
      `${dir}/disk.yaml`,
      `extends: tiny.yaml\ndisks:\n  - size: 16M\nargs: ["-name", "${mark}"]\n`,
    );
    const child = spawnVmkit(["run", "disk.yaml", "--", "echo started; sleep 100"], {
      ...inDir(dir),
      stdin: "null",
    });
    const stderr = new Response(child.stderr).text();
    // The job's output comes as the guest prints it: once it has started, the disk is there.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    while (!stdout.includes("started\n")) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`the job did not start: ${stdout}${await stderr}`);
      stdout += value;
    }
    const disks = [];
    for (const name of await leftovers(dir)) {
      if (!name.startsWith("vmkit-run-")) continue;
      for await (const entry of Deno.readDir(`${dir}/tmp/${name}`)) disks.push(entry.name);
    }
    assert.deepEqual(disks, ["disk0.qcow2"]);
    assert.equal((await qemuWith(mark)).length, 1, "QEMU runs");
    child.kill("SIGHUP");
    const [status] = await Promise.all([
      child.status,
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          stdout += value;
        }
      })(),
    ]);
    assert.deepEqual([status.code, await stderr], [
      129,
      "vmkit: Interrupted by SIGHUP: the VM was shut down\n",
    ]);
    assert.match(stdout, /^started\n/);
    assert.deepEqual(await qemuWith(mark), [], "no QEMU is left");
    assert.deepEqual(await leftovers(dir), [], "the disk's directory is gone");
  });
});

Deno.test("vmkit run refuses a bad definition, a VM with no way in and words before --, with exit 2", async () => {
  await withDefinitions(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.yaml`, "arch: x86_64\nguest: tiny\nmemory: 10X\n");
    await Deno.writeTextFile(`${dir}/closed.yaml`, "arch: x86_64\nmemory: 256M\n");
    const cases: [string[], RegExp][] = [
      [
        ["run", "bad.yaml", "--", "true"],
        /^bad\.yaml:3:\d+: memory: "10X" has an unknown unit "X"/m,
      ],
      [["run", "missing.yaml"], /missing\.yaml/],
      [
        ["run", "closed.yaml", "--", "true"],
        /^vmkit: Cannot run "true" in the VM of "closed\.yaml": it has no way in; add agent: true/,
      ],
      [
        ["run", "tiny.yaml", "uname"],
        /^vmkit: Cannot tell the command from the definition: \["uname"\] before --; put the command after -- .*, as in: vmkit run tiny\.yaml -- uname\n$/,
      ],
      // Options of the command, or docker's -it, are not taken for vmkit's own.
      [
        ["run", "tiny.yaml", "uname", "-a"],
        /^vmkit: Cannot tell the command from the definition: \["uname","-a"\] before --; .*, as in: vmkit run tiny\.yaml -- uname -a\n$/,
      ],
      [
        ["run", "tiny.yaml", "--set", "cpus=1", "-it", "sh"],
        /^vmkit: Cannot tell the command from the definition: \["-it","sh"\] before --; put the command after -- \(vmkit run's own options, --set, --timeout and -i, go before it\), as in: vmkit run tiny\.yaml -- sh\n$/,
      ],
      [["run", "tiny.yaml", "--bogus"], /^error: unknown option '--bogus'\n$/],
      [
        ["run", "tiny.yaml", "--timeout", "soon", "--", "true"],
        /^vmkit: Cannot use --timeout "soon"/,
      ],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await vmkit(args, inDir(dir));
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.equal(stdout, "");
      assert.match(stderr, message, args.join(" "));
    }
    assert.deepEqual(await leftovers(dir), []);
  });
});
