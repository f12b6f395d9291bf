// The binfmt recipes, run as users run them: through their shebang lines.
import assert from "node:assert/strict";
import { binfmt } from "../../mod.ts";
import { FOREIGN_BUSYBOXES, needsRoot, TEST_PREFIX } from "../binfmt/_foreign.ts";
import { runRecipe as recipe } from "./_run.ts";

const PREFIX = `${TEST_PREFIX}recipe-`;

function isMounted(): boolean {
  try {
    return Deno.statSync("/proc/sys/fs/binfmt_misc/register").isFile;
  } catch {
    return false;
  }
}

Deno.test("register-emulators --dry-run prints the registration strings and changes nothing", async () => {
  const before = isMounted() ? (await binfmt.list()).length : 0;
  const { code, stdout } = await recipe("register-emulators.ts", [
    "--dry-run",
    "--arch",
    "riscv64",
    "--arch",
    "arm",
    "--persistent",
    "yes",
    "--preserve-argv0",
    "yes",
    "--qemu-path",
    "/opt/qemu",
    "--qemu-suffix",
    "",
  ]);
  assert.equal(code, 0);
  const lines = stdout.trim().split("\n");
  assert.deepEqual(lines, [
    binfmt.registrationString(
      binfmt.entry("riscv64", { qemuPath: "/opt/qemu", persistent: true, preserveArgv0: true }),
    ),
    binfmt.registrationString(
      binfmt.entry("arm", { qemuPath: "/opt/qemu", persistent: true, preserveArgv0: true }),
    ),
  ]);
  assert.ok(lines[0].endsWith(":/opt/qemu/qemu-riscv64:PF"));
  if (isMounted()) assert.equal((await binfmt.list()).length, before);
});

Deno.test("register-emulators --systemd and --debian write files qemu-binfmt-conf.sh would", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const systemd = await recipe("register-emulators.ts", [
      "--systemd",
      `${dir}/binfmt.d`,
      "--arch",
      "s390x",
      "--credential",
      "yes",
    ]);
    assert.equal(systemd.code, 0, systemd.stderr);
    const conf = await Deno.readTextFile(`${dir}/binfmt.d/qemu-s390x.conf`);
    assert.match(
      conf,
      /^:qemu-s390x:M::\\x7f\\x45\\x4c\\x46\\x02\\x02.*:\/usr\/bin\/qemu-s390x-static:OC\n$/,
    );
    const debian = await recipe("register-emulators.ts", [
      "--debian",
      `${dir}/binfmts`,
      "--arch",
      "s390x",
    ]);
    assert.equal(debian.code, 0, debian.stderr);
    assert.match(
      await Deno.readTextFile(`${dir}/binfmts/qemu-s390x`),
      /^package qemu-s390x\ninterpreter \/usr\/bin\/qemu-s390x-static\nmagic /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("register-emulators rejects bad flags and the host's own architecture with exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--arch", Deno.build.arch], /Cannot register .*: it is this host's own architecture/],
    [["--arch", "arm64"], /Cannot find QEMU target "arm64": use one of/],
    [["--persistent", "maybe"], /--persistent takes "yes" or "no", not "maybe"/],
    [["--systemd", "/tmp/a", "--debian", "/tmp/b"], /--systemd and --debian exclude each other/],
    [["--frobnicate"], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await recipe("register-emulators.ts", args);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr, message);
  }
});

Deno.test(
  needsRoot("register-emulators registers, proves, keeps idempotent and fails loudly on conflict"),
  async () => {
    const args = ["--name-prefix", PREFIX, "--arch", "aarch64", "--arch", "mips64el"];
    try {
      const first = await recipe("register-emulators.ts", [
        ...args,
        "--persistent",
        "yes",
        "--json",
      ]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const report = JSON.parse(first.stdout);
      assert.equal(report.ok, true);
      assert.deepEqual(
        report.results.map((r: { action: string; check: string }) => [r.action, r.check]),
        [
          ["registered", "working"],
          ["registered", "working"],
        ],
      );
      const again = await recipe("register-emulators.ts", [...args, "--persistent", "yes"]);
      assert.equal(again.code, 0);
      assert.match(
        again.stdout,
        /^unchanged +aarch64 -> \/usr\/bin\/qemu-aarch64-static \(working\)$/m,
      );
      const conflict = await recipe("register-emulators.ts", [...args, "--persistent", "no"]);
      assert.equal(conflict.code, 1, "a failed registration exits non-zero");
      assert.match(conflict.stdout, /failed +aarch64 .*flags: "F" → ""/);
      const reset = await recipe("register-emulators.ts", [
        ...args,
        "--reset",
        "--persistent",
        "no",
      ]);
      assert.equal(reset.code, 0, reset.stdout);
      assert.match(reset.stdout, /^removed vmkit-test-recipe-aarch64$/m);
      assert.equal((await binfmt.get(`${PREFIX}aarch64`))?.flags.persistent, false);
      const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "mips64el")!;
      const run = await new Deno.Command(busybox.path, { args: ["uname", "-m"], stdout: "piped" })
        .output();
      assert.equal(new TextDecoder().decode(run.stdout).trim(), "mips64");
    } finally {
      await binfmt.reset({ prefix: PREFIX });
    }
  },
);

Deno.test("run-foreign runs a foreign busybox and passes its exit code through", async () => {
  const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "armhf")!;
  const ok = await recipe("run-foreign.ts", [busybox.path, "sh", "-c", "uname -m; exit 7"]);
  assert.equal(ok.code, 7);
  assert.equal(ok.stdout.trim(), "armv7l");
  const missing = await recipe("run-foreign.ts", [
    "--emulator",
    "/nonexistent/qemu-arm",
    busybox.path,
  ]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /run-foreign: Cannot run .*: no emulator for arm is installed/);
  const usage = await recipe("run-foreign.ts", []);
  assert.equal(usage.code, 2);
  assert.match(usage.stdout, /^usage: run-foreign\.ts/);
});
