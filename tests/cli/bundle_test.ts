// The stand-in for `deno task compile` (deno compile cannot fetch its runtime here): the CLI
// bundled into one file with `deno bundle`, run from another directory with exactly the
// permissions the compile task bakes in (-A: Deno 2.9 grants /proc and /dev/kvm to --allow-all
// only, and vmkit reads both).
import assert from "node:assert/strict";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PERMISSIONS = ["-A"];
const decoder = new TextDecoder();

async function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
) {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("the CLI bundled into one file runs from another directory: help, validate, show, img info, kernel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-cli-bundle-" });
  try {
    const bundle = `${dir}/vmkit.js`;
    const made = await run(
      Deno.execPath(),
      ["bundle", "--quiet", "lib/cli/main.ts", "-o", bundle],
      ROOT,
    );
    assert.equal(made.code, 0, made.stderr);
    const text = await Deno.readTextFile(bundle);
    assert.doesNotMatch(text, /from ["'](\.\.?\/|file:)/, "nothing is imported from the checkout");
    const work = `${dir}/elsewhere`;
    await Deno.mkdir(work);
    const vmkit = (...args: string[]) =>
      run(Deno.execPath(), ["run", ...PERMISSIONS, bundle, ...args], work);

    const help = await vmkit("--help");
    assert.equal(help.code, 0, help.stderr);
    for (
      const command of ["run", "kernel", "img", "seed", "binfmt", "completions", "validate", "show"]
    ) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, "m"), command);
    }

    const guest = await tinyGuest("x86_64");
    await Deno.writeTextFile(
      `${work}/vm.yaml`,
      `arch: x86_64\nmemory: 256M\nkernel:\n  path: ${guest.kernel}\n  initrd: ${guest.initrd}\n` +
        "disks:\n  - size: 1G\n",
    );
    const valid = await vmkit("validate", "vm.yaml");
    assert.equal(valid.code, 0, valid.stdout + valid.stderr);
    await Deno.writeTextFile(`${work}/bad.yaml`, "arch: x86_64\ncpus: many\n");
    const invalid = await vmkit("validate", "bad.yaml");
    assert.equal(invalid.code, 2);
    assert.match(invalid.stdout + invalid.stderr, /bad\.yaml:2:\d+: cpus: /);

    const shown = await vmkit("show", "vm.yaml", "--json");
    assert.equal(shown.code, 0, shown.stderr);
    const { argv } = JSON.parse(shown.stdout);
    assert.match(argv[0], /qemu-system-x86_64$/);
    assert.ok(argv.includes(guest.kernel), "the kernel is on the command line");
    assert.ok(argv.some((arg: string) => arg.includes("256M")));

    const created = await run(
      "qemu-img",
      ["create", "-q", "-f", "qcow2", "disk.qcow2", "3G"],
      work,
    );
    assert.equal(created.code, 0, created.stderr);
    const info = await vmkit("img", "info", "--json", "disk.qcow2");
    assert.equal(info.code, 0, info.stderr);
    assert.deepEqual(
      [JSON.parse(info.stdout).format, JSON.parse(info.stdout).virtualSize],
      ["qcow2", 3 * 2 ** 30],
    );

    // Away from the checkout the tiny guest is found through VMKIT_CACHE_DIR, as setup.sh
    // takes it; without it, the error says so.
    const cacheDir = guest.busybox.replace(/\/x86_64\/busybox$/, "");
    const kernel = await run(
      Deno.execPath(),
      ["run", ...PERMISSIONS, bundle, "kernel", guest.kernel, "--", "uname -m; exit 7"],
      work,
      { VMKIT_CACHE_DIR: cacheDir },
    );
    assert.deepEqual([kernel.code, kernel.stdout], [7, "x86_64\n"], kernel.stderr);
    const lost = await run(
      Deno.execPath(),
      ["run", ...PERMISSIONS, bundle, "kernel", guest.kernel, "--", "true"],
      work,
      { VMKIT_CACHE_DIR: "" },
    );
    assert.equal(lost.code, 125);
    assert.match(lost.stderr, /tiny guest: .* does not exist; .*set VMKIT_CACHE_DIR/);
    // A definition's `guest: tiny` is found the same way.
    const tinyShown = await run(
      Deno.execPath(),
      ["run", ...PERMISSIONS, bundle, "show", `${ROOT}/recipes/vm/tiny.yaml`],
      work,
      { VMKIT_CACHE_DIR: cacheDir },
    );
    assert.equal(tinyShown.code, 0, tinyShown.stderr);
    assert.match(tinyShown.stdout, new RegExp(`-kernel ${cacheDir}/x86_64/`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
