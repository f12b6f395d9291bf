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

Deno.test("register-emulators rejects every wrong input with one Cannot line, the usage and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--arch", Deno.build.arch], /^Cannot register .*: it is this host's own architecture/],
    [["--arch", "arm64"], /^Cannot find QEMU target "arm64": use one of i386, i486, .*, riscv64,/],
    [["--arch", "../../etc/x"], /^Cannot find QEMU target "\.\.\/\.\.\/etc\/x": use one of/],
    [["--persistent", "maybe"], /^Cannot use --persistent "maybe": give yes or no$/],
    [["-p", "maybe"], /^Cannot use -p "maybe": give yes or no$/],
    [["--credential="], /^Cannot use --credential "": give yes or no$/],
    [["--preserve-argv0", "YES"], /^Cannot use --preserve-argv0 "YES": give yes or no$/],
    [["--qemu-path"], /^Cannot use --qemu-path: it needs a value$/],
    [["--dry-run", "-F"], /^Cannot use -F: it needs a value$/],
    [["--systemd"], /^Cannot use --systemd: it needs a value$/],
    [
      ["--qemu-path", "opt/qemu"],
      /^Cannot use --qemu-path "opt\/qemu": the kernel needs an absolute/,
    ],
    [["--reset=yes"], /^Cannot use --reset=yes: --reset takes no value$/],
    [["--frobnicate"], /^Cannot use --frobnicate: unknown option$/],
    [["-z"], /^Cannot use -z: unknown option$/],
    [["--dry-run", "stray"], /^Cannot use "stray": register-emulators takes options only$/],
    [["--systemd", "/tmp/a", "--debian", "/tmp/b"], /^Cannot use --debian with --systemd: /],
    [["-d", "--reset"], /^Cannot use --reset with -d: it removes kernel entries/],
    [["--exportdir", "/tmp/a"], /^Cannot use --exportdir "\/tmp\/a": it goes with --systemd or/],
    [
      ["--systemd", "/tmp/a", "--exportdir", "/tmp/b"],
      /^Cannot use --exportdir "\/tmp\/b": --systemd "\/tmp\/a" already names the directory$/,
    ],
    [
      ["--systemd", "out"],
      /^Cannot find QEMU target "out": use one of .*; a directory needs a "\/" \(\.\/out\)$/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await recipe("register-emulators.ts", args);
    const [first, second] = stderr.split("\n");
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "", args.join(" "));
    assert.ok(first.startsWith("register-emulators: "), stderr);
    assert.match(first.slice("register-emulators: ".length), message, args.join(" "));
    assert.match(second, /^usage: register-emulators\.ts/, args.join(" "));
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
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

Deno.test("register-emulators takes the flags as qemu-binfmt-conf.sh users type them", async () => {
  const line = (target: string, options: Parameters<typeof binfmt.entry>[1]) =>
    binfmt.registrationString(binfmt.entry(target, options));
  const forms: [string[], string][] = [
    [
      [
        "--qemu-suffix",
        "-static",
        "--qemu-path",
        "/opt/qemu",
        "--persistent",
        "--credential",
        "no",
      ],
      line("riscv64", { qemuPath: "/opt/qemu", qemuSuffix: "-static", persistent: true }),
    ],
    [
      ["--qemu-suffix=-static", "--qemu-path=/opt/qemu/", "--persistent=yes", "--credential=no"],
      line("riscv64", { qemuPath: "/opt/qemu", qemuSuffix: "-static", persistent: true }),
    ],
    [
      ["-F", "-static", "-Q", "/opt/qemu", "-p", "yes", "-c", "-g", "no"],
      line("riscv64", {
        qemuPath: "/opt/qemu",
        qemuSuffix: "-static",
        persistent: true,
        credential: true,
      }),
    ],
    [
      ["-F-static", "-Q/opt/qemu", "-pno", "-cyes", "-g"],
      line("riscv64", {
        qemuPath: "/opt/qemu",
        qemuSuffix: "-static",
        credential: true,
        preserveArgv0: true,
      }),
    ],
    [
      ["--persistent", "no", "--preserve-argv0", "--qemu-path", "/opt/qemu", "--qemu-suffix", ""],
      line("riscv64", { qemuPath: "/opt/qemu", preserveArgv0: true }),
    ],
  ];
  for (const [args, expected] of forms) {
    const { code, stdout, stderr } = await recipe("register-emulators.ts", [
      "--dry-run",
      "--arch",
      "riscv64",
      ...args,
    ]);
    assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, `${expected}\n`, args.join(" "));
  }
  // --ignore-family with and without a value, short and long.
  for (const args of [["--ignore-family"], ["-i", "yes"], ["--ignore-family=yes"]]) {
    const { code, stdout } = await recipe("register-emulators.ts", [
      "--dry-run",
      "--host-arch",
      "x86_64",
      ...args,
    ]);
    assert.equal(code, 0, args.join(" "));
    assert.match(stdout, /^:qemu-i386:/m, args.join(" "));
    assert.doesNotMatch(stdout, /^:qemu-x86_64:/m, args.join(" "));
  }
  const family = await recipe("register-emulators.ts", [
    "--dry-run",
    "--host-arch",
    "x86_64",
    "--ignore-family",
    "no",
  ]);
  assert.doesNotMatch(family.stdout, /^:qemu-i386:/m);
});

Deno.test("register-emulators exports one target or ALL into --exportdir, as qemu-binfmt-conf.sh does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const names = async (path: string) =>
    (await Array.fromAsync(Deno.readDir(path), (e) => e.name)).sort();
  const foreign = binfmt.foreignTargets(Deno.build.arch).map((t) => t.name);
  try {
    const one = await recipe("register-emulators.ts", [
      "--systemd",
      "aarch64",
      "--exportdir",
      `${dir}/one`,
      "--persistent",
    ]);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(await names(`${dir}/one`), ["qemu-aarch64.conf"]);
    assert.equal(
      await Deno.readTextFile(`${dir}/one/qemu-aarch64.conf`),
      binfmt.registrationString(
        binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true }),
      ) + "\n",
    );

    const all = await recipe("register-emulators.ts", ["-s", "ALL", "-e", `${dir}/all`]);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(await names(`${dir}/all`), foreign.map((t) => `qemu-${t}.conf`).sort());

    const debian = await recipe("register-emulators.ts", ["-d", "-e", `${dir}/deb`, "-c", "yes"]);
    assert.equal(debian.code, 0, debian.stderr);
    assert.deepEqual(await names(`${dir}/deb`), foreign.map((t) => `qemu-${t}`).sort());
    assert.match(
      await Deno.readTextFile(`${dir}/deb/qemu-s390x`),
      /^package qemu-s390x\ninterpreter \/usr\/bin\/qemu-s390x-static\n[^]*credentials yes\n/,
    );

    const debianOne = await recipe("register-emulators.ts", [
      "--debian",
      "riscv64",
      "--exportdir=" + `${dir}/deb1`,
    ]);
    assert.equal(debianOne.code, 0, debianOne.stderr);
    assert.deepEqual(await names(`${dir}/deb1`), ["qemu-riscv64"]);

    // vmkit's older spelling, a directory (it has a "/") as the value, still works.
    const old = await recipe("register-emulators.ts", ["--systemd", `${dir}/old`, "--arch", "arm"]);
    assert.equal(old.code, 0, old.stderr);
    assert.deepEqual(await names(`${dir}/old`), ["qemu-arm.conf"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("register-emulators --dry-run with --systemd or --debian prints the files and writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const systemd = await recipe("register-emulators.ts", [
      "--systemd",
      "s390x",
      "--exportdir",
      `${dir}/binfmt.d`,
      "--dry-run",
    ]);
    assert.equal(systemd.code, 0, systemd.stderr);
    assert.equal(
      systemd.stdout,
      `# would write ${dir}/binfmt.d/qemu-s390x.conf\n` +
        binfmt.registrationString(binfmt.entry("s390x", { qemuSuffix: "-static" })) + "\n",
    );
    const debian = await recipe("register-emulators.ts", [
      "--debian",
      `${dir}/binfmts`,
      "--arch",
      "s390x",
      "--arch",
      "arm",
      "--dry-run",
      "--json",
    ]);
    assert.equal(debian.code, 0, debian.stderr);
    const report = JSON.parse(debian.stdout);
    assert.deepEqual(
      report.results.map((r: { action: string; file: string }) => [r.action, r.file]),
      [["dry-run", `${dir}/binfmts/qemu-s390x`], ["dry-run", `${dir}/binfmts/qemu-arm`]],
    );
    assert.match(report.results[0].text, /^package qemu-s390x\ninterpreter /);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "nothing was written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const CRIS_DEBIAN = "/usr/share/binfmts/qemu-cris";
const HAS_CRIS = [CRIS_DEBIAN, "/usr/bin/qemu-cris-static"].every((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});
// Debian 12's /usr/share/binfmts/qemu-cris, in registration-string form.
const CRIS_MAGIC = "\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00" +
  "\\x00\\x00\\x00\\x02\\x00\\x4c\\x00";
const CRIS_MASK = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff" +
  "\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

Deno.test({
  name: `register-emulators takes a target vmkit's table lacks from Debian's binfmts file${
    HAS_CRIS ? "" : " [skipped: needs qemu-user-static's qemu-cris]"
  }`,
  ignore: !HAS_CRIS,
  fn: async () => {
    assert.equal(
      binfmt.QEMU_TARGETS.some((t) => t.name === ("cris" as string)),
      false,
      "cris is in the table now: this test no longer tests the Debian fallback",
    );
    const dry = await recipe("register-emulators.ts", ["--dry-run", "--arch", "cris", "-p"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(
      dry.stdout,
      `:qemu-cris:M::${CRIS_MAGIC}:${CRIS_MASK}:/usr/bin/qemu-cris-static:F\n`,
    );

    const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
    try {
      const systemd = await recipe("register-emulators.ts", ["--systemd", "cris", "-e", dir]);
      assert.equal(systemd.code, 0, systemd.stderr);
      assert.equal(
        await Deno.readTextFile(`${dir}/qemu-cris.conf`),
        `:qemu-cris:M::${CRIS_MAGIC}:${CRIS_MASK}:/usr/bin/qemu-cris-static:\n`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }

    // The Debian file alone is not enough: the emulator must be installed where --qemu-path says.
    const elsewhere = await recipe("register-emulators.ts", [
      "--dry-run",
      "--arch",
      "cris",
      "--qemu-path",
      "/nonexistent",
    ]);
    assert.equal(elsewhere.code, 2);
    assert.match(
      elsewhere.stderr,
      /^register-emulators: Cannot find QEMU target "cris": \/usr\/share\/binfmts\/qemu-cris describes it, but no \/nonexistent\/qemu-cris or \/nonexistent\/qemu-cris-static is installed\n/,
    );
    // An emulator without a Debian description (nios2) is not enough either.
    const nios2 = await recipe("register-emulators.ts", ["--dry-run", "--arch", "nios2"]);
    assert.equal(nios2.code, 2);
    assert.match(nios2.stderr, /^register-emulators: Cannot find QEMU target "nios2": use one of /);
    // The accepted list names the Debian-described targets too.
    assert.match(nios2.stderr, /, loongarch64, cris\b/);
  },
});

const realCris = needsRoot("register-emulators registers a target from Debian's binfmts file");
Deno.test(
  { ...realCris, ignore: realCris.ignore || !HAS_CRIS },
  async () => {
    try {
      const { code, stdout, stderr } = await recipe("register-emulators.ts", [
        "--name-prefix",
        PREFIX,
        "--arch",
        "cris",
        "--persistent",
        "--json",
      ]);
      assert.equal(code, 0, stdout + stderr);
      const report = JSON.parse(stdout);
      assert.equal(report.results[0].action, "registered");
      assert.equal(report.results[0].check, undefined, "vmkit has no cris program to run");
      const entry = await binfmt.get(`${PREFIX}cris`);
      assert.equal(entry?.interpreter, "/usr/bin/qemu-cris-static");
      assert.equal(entry?.flags.persistent, true);
      assert.equal(
        binfmt.registrationString({ ...entry!, name: "qemu-cris" }),
        `:qemu-cris:M::${CRIS_MAGIC}:${CRIS_MASK}:/usr/bin/qemu-cris-static:F`,
      );
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
