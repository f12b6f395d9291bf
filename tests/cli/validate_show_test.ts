import assert from "node:assert/strict";
import { definitionBuilder, loadDefinition } from "../../lib/cli/definition/mod.ts";
import { createImage } from "../../lib/image/create.ts";
import { vmkit as runVmkit, type VmkitRun } from "./_vmkit.ts";

const FIX = decodeURIComponent(new URL("./fixtures/definition", import.meta.url).pathname);
const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
/** Runs `vmkit ARGS` as a user would, in `cwd`, with `env` on top of this process's. */
function vmkit(args: string[], cwd: string, env?: Record<string, string>): Promise<VmkitRun> {
  return runVmkit(args, { cwd, env });
}

/** The words bash makes of a line. */
async function shellWords(line: string): Promise<string[]> {
  const output = await new Deno.Command("bash", {
    args: ["-c", `printf '%s\\0' ${line}`],
    stdout: "piped",
  }).output();
  assert.equal(output.code, 0);
  return new TextDecoder().decode(output.stdout).split("\0").slice(0, -1);
}

async function scratch(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-validate-show-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("vmkit validate prints FILE: ok for valid files and exits 0; a definition's paths are read from its own directory, not the working one", async () => {
  const result = await vmkit(
    ["validate", "../valid.yaml", `${ROOT}/recipes/vm/tiny.yaml`, "../child.yaml"],
    `${FIX}/files`,
  );
  assert.deepEqual(result, {
    code: 0,
    stdout: `../valid.yaml: ok\n${ROOT}/recipes/vm/tiny.yaml: ok\n../child.yaml: ok\n`,
    stderr: "",
  });
  const help = await vmkit(["validate", "--help"], ROOT);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}vmkit validate vm\.yaml\n/);
});

Deno.test("vmkit validate prints every problem on stderr and exits 2; --json reports each file on stdout", async () => {
  const result = await vmkit(["validate", "../valid.yaml", "../unknown_key.yaml"], `${FIX}/files`);
  assert.deepEqual(result, {
    code: 2,
    stdout: "../valid.yaml: ok\n",
    stderr: [
      '../unknown_key.yaml:2:1: memry: unknown field, did you mean "memory"?',
      '../unknown_key.yaml:5:5: disks[0].read_only: unknown field, did you mean "readOnly"?',
      "",
    ].join("\n"),
  });

  const json = await vmkit(["validate", "--json", "valid.yaml", "bad_child.yaml"], FIX);
  assert.equal(json.code, 2);
  assert.equal(json.stderr, "");
  assert.deepEqual(JSON.parse(json.stdout), [
    { file: "valid.yaml", valid: true, problems: [] },
    {
      file: "bad_child.yaml",
      valid: false,
      problems: [{
        file: "base/bad_base.yaml",
        line: 2,
        column: 1,
        field: "cpus",
        wrong: "0 is too small",
        allowed: "expected a whole number from 1 to 4096",
        message:
          "base/bad_base.yaml:2:1: cpus: 0 is too small, expected a whole number from 1 to 4096",
      }],
    },
  ]);
});

Deno.test("vmkit validate --set names the flag of a bad override", async () => {
  const result = await vmkit(
    ["validate", "valid.yaml", "--set", "memory=2G", "--set", "cpus=zero"],
    FIX,
  );
  assert.deepEqual(result, {
    code: 2,
    stdout: "",
    stderr: '--set cpus=zero: cpus: "zero" is a string, expected a whole number from 1 to 4096\n',
  });
  const json = await vmkit(["validate", "valid.yaml", "--set", "cpus=zero", "--json"], FIX);
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stdout)[0].problems[0], {
    file: "--set cpus=zero",
    line: null,
    column: null,
    field: "cpus",
    wrong: '"zero" is a string',
    allowed: "expected a whole number from 1 to 4096",
    message: '--set cpus=zero: cpus: "zero" is a string, expected a whole number from 1 to 4096',
  });
});

Deno.test("vmkit show prints the command line launch would run, with auto's accelerator: the shell reads it back as builder.toArgv", async () => {
  await using dir = await scratch();
  const result = await vmkit(["show", `${ROOT}/recipes/vm/tiny.yaml`, "--set", "cpus=2"], dir.path);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const { definition } = await loadDefinition(`${ROOT}/recipes/vm/tiny.yaml`, {
    set: ["cpus=2"],
  });
  const builder = await definitionBuilder(definition, { diskDir: "DISK_DIR", create: false });
  const accel = builder.resolveAccel().accel;
  const expected = [builder.binary, ...builder.toArgv({ accel })];
  assert.deepEqual(await shellWords(result.stdout.trimEnd()), expected);
  // auto is resolved here, as launch resolves it, not left to QEMU (-accel kvm -accel tcg).
  assert.equal(expected.filter((a) => a === "-accel").length, 1);
  assert.deepEqual(expected.slice(expected.indexOf("-smp"), expected.indexOf("-smp") + 2), [
    "-smp",
    "2",
  ]);
});

Deno.test("vmkit show --json gives argv and the definition, names the disks it would make, and makes nothing", async () => {
  await using dir = await scratch();
  await createImage(`${dir.path}/base.qcow2`, { size: "1M" });
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: x86_64\ndisks:\n  - overlayOf: base.qcow2\n  - size: 1G\n",
  );
  const result = await vmkit(
    ["show", "vm.yaml", "--json", "--disk-dir", `${dir.path}/disks`, "--set", "memory=1G"],
    dir.path,
  );
  assert.equal(result.code, 0, result.stderr);
  const { argv, definition } = JSON.parse(result.stdout);
  assert.deepEqual(definition, {
    arch: "x86_64",
    memory: "1G",
    disks: [{ overlayOf: `${dir.path}/base.qcow2` }, { size: "1G" }],
  });
  assert.equal(argv[0], "qemu-system-x86_64");
  const files = argv.filter((a: string) => a.startsWith("{") && a.includes('"filename"'))
    .map((a: string) => JSON.parse(a).file.filename);
  assert.deepEqual(files, [`${dir.path}/disks/disk0.qcow2`, `${dir.path}/disks/disk1.qcow2`]);
  assert.deepEqual(argv.slice(argv.indexOf("-m"), argv.indexOf("-m") + 2), ["-m", "1024M"]);
  await assert.rejects(() => Deno.stat(`${dir.path}/disks`), Deno.errors.NotFound);
});

Deno.test("vmkit show exits 2 on an invalid definition, naming each problem, with nothing on stdout", async () => {
  const result = await vmkit(["show", "bad_enum.yaml"], FIX);
  assert.deepEqual(result, {
    code: 2,
    stdout: "",
    stderr: [
      'bad_enum.yaml:2:1: firmware: "efi" is not allowed, did you mean "uefi"?',
      'bad_enum.yaml:5:5: disks[0].interface: "sata" is not allowed, expected "virtio-blk", "scsi", "nvme", "ide", "usb"',
      "",
    ].join("\n"),
  });
});

Deno.test("vmkit validate refuses what run would fail on, each problem where it was written, and --json keeps its shape", async () => {
  await using dir = await scratch();
  await Deno.mkdir(`${dir.path}/shared`);
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    [
      "arch: amd64",
      "guest: tiny",
      "cpus: 4096",
      "memory: 32M",
      "shares: [{ host: shared, tag: data }]",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${dir.path}/dup.yaml`,
    'arch: x86_64\nnetwork:\n  forwards: ["2222:22", "2222:80"]\n',
  );
  const text = await vmkit(["validate", "vm.yaml", "dup.yaml"], dir.path);
  assert.equal(text.code, 2);
  assert.equal(text.stdout, "");
  const lines = text.stderr.trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.split(": ").slice(0, 2).join(": ")), [
    "vm.yaml:3:1: cpus",
    "vm.yaml:4:1: memory",
    "vm.yaml:5:1: shares",
    "dup.yaml:3:25: network.forwards[1]",
  ]);
  assert.match(
    lines[0],
    /4096 is more than the x86_64 machine takes \(QEMU's q35\), expected at most 288$/,
  );
  assert.match(lines[1], /"32M" is too little for the x86_64 tiny guest, expected at least 80M/);
  assert.match(
    lines[2],
    /the x86_64 tiny guest cannot mount 9p shares: its kernel \(.*\) has no 9p/,
  );
  assert.match(
    lines[3],
    /host port 2222 \(tcp on 127\.0\.0\.1\) is forwarded already by network\.forwards\[0\]/,
  );

  const json = await vmkit(["validate", "--json", "vm.yaml", "dup.yaml"], dir.path);
  assert.equal(json.code, 2);
  assert.equal(json.stderr, "");
  const reports = JSON.parse(json.stdout);
  assert.deepEqual(reports.map((r: Record<string, unknown>) => Object.keys(r)), [
    ["file", "valid", "problems"],
    ["file", "valid", "problems"],
  ]);
  const problems = reports.flatMap((r: { problems: Record<string, unknown>[] }) => r.problems);
  assert.deepEqual(
    problems.map((p: Record<string, unknown>) => Object.keys(p).sort()),
    Array(4).fill(["allowed", "column", "field", "file", "line", "message", "wrong"]),
  );
  assert.deepEqual(problems.map((p: { message: string }) => p.message), lines);
  assert.deepEqual(problems[3], {
    file: "dup.yaml",
    line: 3,
    column: 25,
    field: "network.forwards[1]",
    wrong: "host port 2222 (tcp on 127.0.0.1) is forwarded already by network.forwards[0]",
    allowed: "expected each host port once (or 0, a free port picked at start)",
    message: lines[3],
  });
});

/** The first YAML block of the README's section on the vmkit command. */
async function readmeDefinition(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const section = readme.slice(readme.indexOf("## The `vmkit` command"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block !== null, "the README's vmkit section has a YAML sample");
  return block[1];
}

Deno.test("every example definition validates: recipes/vm/*.yaml, and the README's sample with the files it names", async () => {
  const recipes: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}/recipes/vm`)) {
    if (entry.name.endsWith(".yaml")) recipes.push(`${ROOT}/recipes/vm/${entry.name}`);
  }
  recipes.sort();
  assert.ok(recipes.length >= 2);
  await using dir = await scratch();
  const result = await vmkit(["validate", ...recipes], dir.path);
  assert.deepEqual(result, {
    code: 0,
    stdout: recipes.map((r) => `${r}: ok\n`).join(""),
    stderr: "",
  });

  // The README's sample, beside the files it names: a kernel, an initrd, a base definition,
  // and a base image under HOME.
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, await readmeDefinition());
  await Deno.writeTextFile(`${dir.path}/base.yaml`, "arch: x86_64\n");
  await Deno.copyFile(`${FIX}/files/vmlinuz`, `${dir.path}/bzImage`);
  await Deno.writeTextFile(`${dir.path}/initrd.img`, "");
  await Deno.mkdir(`${dir.path}/images`);
  await createImage(`${dir.path}/images/debian.qcow2`, { size: "1M" });
  const readme = await vmkit(["validate", "vm.yaml"], dir.path, { HOME: dir.path });
  assert.deepEqual(readme, { code: 0, stdout: "vm.yaml: ok\n", stderr: "" });
});
