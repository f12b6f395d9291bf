// The QMP recipes, run as users run them: through their shebang lines, from a pipe and on a
// terminal, against a real QEMU.
import assert from "node:assert/strict";

const recipes = new URL("../../recipes/", import.meta.url).pathname;
const ptyDrive = new URL("../fixtures/pty_drive.py", import.meta.url).pathname;
const decoder = new TextDecoder();

// A QEMU with two QMP server sockets, so a listener and a shell can both connect.
async function twoMonitorQemu(): Promise<AsyncDisposable & { a: string; b: string }> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const process = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-machine",
      "none",
      "-nodefaults",
      "-display",
      "none",
      "-qmp",
      `unix:${dir}/a.sock,server=on,wait=off`,
      "-qmp",
      `unix:${dir}/b.sock,server=on,wait=off`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    if (await Deno.stat(`${dir}/b.sock`).then(() => true, () => false)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    a: `${dir}/a.sock`,
    b: `${dir}/b.sock`,
    async [Symbol.asyncDispose]() {
      process.kill("SIGKILL");
      await process.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function pipeTo(args: string[], input: string) {
  const child = new Deno.Command(`${recipes}qmp-shell.ts`, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("qmp-shell runs piped commands, raw JSON and HMP, and exits 1 when one failed", async () => {
  await using qemu = await twoMonitorQemu();
  const ok = await pipeTo(
    [qemu.a],
    [
      "query-status",
      "blockdev-add driver=null-co node-name=n0 size=1048576 read-only=true",
      '{"execute": "query-named-block-nodes", "arguments": {"flat": true}}',
      "# a comment",
      "",
    ].join("\n"),
  );
  assert.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(lines[0].status, "running");
  assert.deepEqual(lines[1], {});
  assert.equal(lines[2][0]["node-name"], "n0");
  assert.equal(lines[2][0].ro, true);

  const bad = await pipeTo([qemu.a], "device_del id=nope\nbad syntax\nquery-name\n");
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout.trim(), "{}");
  assert.equal(
    bad.stderr,
    [
      "qmp-shell: line 1: device_del id=nope: DeviceNotFound: Device 'nope' not found",
      'qmp-shell: line 2: bad syntax: Cannot parse argument "syntax": write key=value',
      "",
    ].join("\n"),
  );

  const hmp = await pipeTo(["--hmp", qemu.b], "info version\n");
  assert.equal(hmp.code, 0);
  assert.match(hmp.stdout, /^7\.2\.\d+/);

  const usage = await pipeTo(["--timeout", "soon", qemu.a], "");
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--timeout soon is not a positive whole number/);
  const nowhere = await pipeTo(["/tmp/vmkit-test-no-such.sock"], "");
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /Cannot connect to QMP at "\/tmp\/vmkit-test-no-such.sock"/);
});

Deno.test("qmp-shell names the failing line of piped input, runs .hmp lines, and fails on HMP errors", async () => {
  await using qemu = await twoMonitorQemu();
  const mixed = await pipeTo(
    [qemu.a],
    [
      "query-status",
      "# line 2 is a comment, line 3 fails",
      "device_del id=nope",
      ".hmp info status",
      "",
      "  .hmp nosuchcommand",
      ".hmp device_del nope",
      ".hmp device_del",
      ".frobnicate",
      "query-name",
    ].join("\n"),
  );
  assert.equal(mixed.code, 1);
  const out = mixed.stdout.trim().split("\n");
  assert.equal(JSON.parse(out[0]).status, "running");
  assert.deepEqual(out.slice(1), ["VM status: running", "{}"]);
  assert.equal(
    mixed.stderr,
    [
      "qmp-shell: line 3: device_del id=nope: DeviceNotFound: Device 'nope' not found",
      "qmp-shell: line 6: .hmp nosuchcommand: unknown command: 'nosuchcommand'",
      "qmp-shell: line 7: .hmp device_del nope: Error: Device 'nope' not found",
      "qmp-shell: line 8: .hmp device_del: device_del: string expected; " +
      'Try "help device_del" for more information',
      'qmp-shell: line 9: .frobnicate: Cannot run ".frobnicate": the shell knows .hmp, .qmp and .help',
      "",
    ].join("\n"),
  );

  // An HMP error alone fails the run; HMP output that is not an error does not.
  const hmpOnly = await pipeTo([qemu.a], ".hmp info status\n.hmp nosuchcommand\nquery-name\n");
  assert.equal(hmpOnly.code, 1, hmpOnly.stderr);
  assert.match(hmpOnly.stderr, /^qmp-shell: line 2: \.hmp nosuchcommand: unknown command/);
  const fine = await pipeTo([qemu.a], ".hmp info status\n.hmp info version\n");
  assert.equal(fine.code, 0, fine.stderr);
  assert.match(fine.stdout, /^VM status: running\n7\.2\.\d+/);

  // In HMP mode every line goes to the human monitor, and .qmp runs one QMP command.
  const hmpMode = await pipeTo(
    ["--hmp", qemu.b],
    "info status\n.qmp query-name\ndevice_del nope\n",
  );
  assert.equal(hmpMode.code, 1);
  assert.deepEqual(hmpMode.stdout.trim().split("\n"), ["VM status: running", "{}"]);
  assert.equal(
    hmpMode.stderr,
    "qmp-shell: line 3: device_del nope: Error: Device 'nope' not found\n",
  );
});

Deno.test("qmp-shell completes command and argument names on a terminal and recalls history", async () => {
  await using qemu = await twoMonitorQemu();
  const { code, stdout } = await new Deno.Command("python3", {
    args: [
      ptyDrive,
      `${recipes}qmp-shell.ts`,
      qemu.a,
      "--",
      // One write per key, as typed: a tab inside a longer write is pasted text.
      "query-sta",
      "\\t",
      "\\t",
      "u",
      "\\t",
      "\\r",
      "blockdev-add dri",
      "\\t",
      "null-co node-n",
      "\\t",
      "n1",
      "\\r",
      "\\x1b[A",
      "\\x15",
      ".hmp\\r",
      "info name\\r",
      "\\x04",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const screen = decoder.decode(stdout);
  assert.equal(code, 0, screen);
  assert.match(screen, /Connected to QEMU 7\.2/);
  // Two tabs list the three commands that start with query-stat; one more letter settles it.
  assert.match(screen, /query-stats\s+query-stats-schemas\s+query-status/);
  // The third tab completed "query-statu" to the one command, which ran.
  assert.match(screen, /"status": "running"/);
  assert.match(screen, /blockdev-add driver=null-co node-name=n1/);
  // Up recalls that line whole, after its result.
  assert.match(screen, /\{\}[^]*\(QEMU\) blockdev-add driver=null-co node-name=n1/);
  assert.match(screen, /\(HMP\) /);
});

Deno.test("qmp-events prints events as JSON lines until interrupted", async () => {
  await using qemu = await twoMonitorQemu();
  const events = new Deno.Command(`${recipes}qmp-events.ts`, {
    args: ["--event", "STOP", "--event", "RESUME", qemu.a],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const shell = await pipeTo([qemu.b], "stop\nquery-name\ncont\n");
  assert.equal(shell.code, 0, shell.stderr);
  await new Promise((resolve) => setTimeout(resolve, 300));
  events.kill("SIGINT");
  const { code, stdout } = await events.output();
  assert.equal(code, 0);
  const lines = decoder.decode(stdout).trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((event) => event.event), ["STOP", "RESUME"]);
  assert.equal(typeof lines[0].timestamp.seconds, "number");
});
