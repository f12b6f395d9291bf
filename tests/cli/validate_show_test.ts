import assert from "node:assert/strict";
import { definitionBuilder, loadDefinition } from "../../lib/cli/definition/mod.ts";
import { createImage } from "../../lib/image/create.ts";

const FIX = decodeURIComponent(new URL("./fixtures/definition", import.meta.url).pathname);
const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
const MAIN = `${ROOT}/lib/cli/main.ts`;

/** Runs `vmkit ARGS` as a user would, in `cwd`. */
async function vmkit(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-A", MAIN, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
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
