// vmkit img, seed, binfmt and completions as users run them: a subprocess from another
// directory, real qemu-img, real ISO readers, real binfmt_misc, a real bash completing.
import assert from "node:assert/strict";
import { MAIN, spawnVmkit, vmkit } from "./_vmkit.ts";

const decoder = new TextDecoder();

async function program(name: string, args: string[], cwd?: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(name, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.equal(code, 0, `${name} ${args.join(" ")}: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-cli-tools-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("vmkit img creates, inspects, resizes and converts images with qemu-img's flags", async () => {
  await inTempDir(async (dir) => {
    const run = (...args: string[]) => vmkit(["img", ...args], { cwd: dir });
    assert.deepEqual(await run("create", "-f", "qcow2", "base.qcow2", "64M"), {
      code: 0,
      stdout: "",
      stderr: "",
    });
    const overlay = await run(
      "create",
      "-f",
      "qcow2",
      "-b",
      "base.qcow2",
      "-F",
      "qcow2",
      "vm.qcow2",
    );
    assert.equal(overlay.code, 0, overlay.stderr);
    const ours = JSON.parse((await run("info", "--output=json", "vm.qcow2")).stdout);
    const theirs = JSON.parse(
      await program("qemu-img", ["info", "--output=json", "--backing-chain", "vm.qcow2"], dir),
    );
    assert.equal(ours.format, "qcow2");
    assert.equal(ours.virtualSize, theirs[0]["virtual-size"]);
    assert.deepEqual(ours.backing, {
      filename: theirs[0]["backing-filename"],
      fullFilename: theirs[0]["full-backing-filename"],
      format: "qcow2",
    });
    assert.deepEqual(
      ours.chain.map((l: { filename: string }) => l.filename),
      theirs.map((l: { filename: string }) => l.filename),
    );
    const human = await run("info", "vm.qcow2");
    assert.match(
      human.stdout,
      /^image: vm\.qcow2\nfile format: qcow2\nvirtual size: 64 MiB \(67108864 bytes\)\n/,
    );
    assert.match(human.stdout, /^backing file format: qcow2$/m);
    assert.match(human.stdout, /\n\nimage: .*base\.qcow2\n/, "the backing chain follows");
    // Shrinking needs --shrink; a negative size is a size, not an option.
    const refused = await run("resize", "vm.qcow2", "-16M");
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^vmkit: Cannot resize "vm\.qcow2" to 48 MiB: .*pass --shrink to shrink\n$/,
    );
    const shrunk = await run("resize", "--shrink", "vm.qcow2", "-16M");
    assert.deepEqual([shrunk.code, shrunk.stdout], [
      0,
      "Image resized to 48 MiB (50331648 bytes).\n",
    ]);
    // Piped, convert shows no progress, even with -p.
    const converted = await run("convert", "-O", "raw", "-p", "vm.qcow2", "flat.img");
    assert.deepEqual(converted, { code: 0, stdout: "", stderr: "" });
    assert.equal((await Deno.stat(`${dir}/flat.img`)).size, 48 * 2 ** 20);
    const again = await run("convert", "-O", "raw", "vm.qcow2", "flat.img");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /"flat\.img" exists; pass --overwrite\n$/);
    const missing = await run("info", "nope.qcow2");
    assert.deepEqual([missing.code, missing.stderr], [
      1,
      'vmkit: Cannot read image "nope.qcow2": the file does not exist\n',
    ]);
    const unit = await run("create", "x.qcow2", "10X");
    assert.equal(unit.code, 2);
    assert.match(unit.stderr, /size "10X" has an unknown unit "X"/);
    const nothing = await run("resize", "vm.qcow2", "+0");
    assert.deepEqual([nothing.code, nothing.stderr], [
      2,
      'vmkit: Cannot resize "vm.qcow2" by "+0": growing by 0 changes nothing; give the size to add, like "+10G"\n',
    ]);
  });
});

Deno.test("SIGTERM during vmkit img convert stops qemu-img, removes its part file and exits 143", async () => {
  await inTempDir(async (dir) => {
    // Random data compresses slowly: seconds of work to interrupt.
    await program("sh", ["-c", `head -c 96M /dev/urandom > "${dir}/big.raw"`]);
    const child = spawnVmkit(
      ["img", "convert", "-O", "qcow2", "-c", `${dir}/big.raw`, `${dir}/big.qcow2`],
      { cwd: dir, stdin: "null" },
    );
    const output = Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    const names = async () => {
      const found: string[] = [];
      for await (const entry of Deno.readDir(dir)) found.push(entry.name);
      return found.sort();
    };
    const deadline = Date.now() + 30_000;
    while (!(await names()).some((name) => name.endsWith(".part"))) {
      assert.ok(Date.now() < deadline, "qemu-img did not start writing");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill("SIGTERM");
    const [status, [stdout, stderr]] = await Promise.all([child.status, output]);
    assert.deepEqual([status.code, stdout, stderr], [
      143,
      "",
      `vmkit: Interrupted by SIGTERM: the conversion was stopped; "${dir}/big.qcow2" was not written\n`,
    ]);
    const left = await new Deno.Command("pgrep", { args: ["-af", dir], stdout: "piped" }).output();
    assert.equal(decoder.decode(left.stdout), "", "no qemu-img runs on");
    assert.deepEqual(await names(), ["big.raw"], "no part file is left");
  });
});

Deno.test("vmkit seed writes a NoCloud ISO like cloud-localds, and a ConfigDrive", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/user-data`, "#cloud-config\nruncmd:\n  - touch /run/seeded\n");
    await Deno.writeTextFile(`${dir}/meta-data`, "instance-id: iid-cli-test\n");
    await Deno.writeTextFile(
      `${dir}/id.pub`,
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake me@host\n",
    );
    // cloud-localds's positional form, with a key and a host name.
    const made = await vmkit(
      ["seed", "seed.iso", "user-data", "meta-data", "--ssh-key", "id.pub", "-H", "vm1"],
      { cwd: dir },
    );
    assert.deepEqual(made, { code: 0, stdout: "", stderr: "" });
    assert.equal((await Deno.stat(`${dir}/seed.iso`)).mode! & 0o777, 0o600);
    assert.match(await program("isoinfo", ["-d", "-i", `${dir}/seed.iso`]), /^Volume id: cidata$/m);
    const file = (name: string) =>
      program("isoinfo", ["-R", "-i", `${dir}/seed.iso`, "-x", `/${name}`]);
    assert.equal(await file("user-data"), "#cloud-config\nruncmd:\n  - touch /run/seeded\n");
    assert.equal(
      await file("meta-data"),
      "instance-id: iid-cli-test\nlocal-hostname: vm1\npublic-keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake me@host\n",
    );
    const drive = await vmkit(
      [
        "seed",
        "cfg.iso",
        "--format",
        "configdrive",
        "--ssh-key",
        "ssh-ed25519 AAAAC3Nza k@h",
        "-H",
        "vm2",
      ],
      { cwd: dir },
    );
    assert.equal(drive.code, 0, drive.stderr);
    assert.match(
      await program("isoinfo", ["-d", "-i", `${dir}/cfg.iso`]),
      /^Volume id: config-2$/m,
    );
    const meta = JSON.parse(
      await program("isoinfo", [
        "-R",
        "-i",
        `${dir}/cfg.iso`,
        "-x",
        "/openstack/latest/meta_data.json",
      ]),
    );
    assert.deepEqual([meta.hostname, meta.public_keys], ["vm2", {
      "key-1": "ssh-ed25519 AAAAC3Nza k@h",
    }]);
    // Mistakes.
    await Deno.writeTextFile(`${dir}/plain`, "hostname: x\n");
    for (
      const [args, message] of [
        [
          ["seed", "x.iso", "plain"],
          /user-data starts with "hostname: x\\n", which cloud-init ignores/,
        ],
        [
          ["seed", "x.iso", "--ssh-key", "user-data"],
          /Cannot use --ssh-key "user-data": it holds no single SSH public key/,
        ],
        [
          ["seed", "x.iso", "--format", "vfat"],
          /^error: option '--format <kind>' argument 'vfat' is invalid\. Allowed choices are nocloud, configdrive\.\n$/,
        ],
        [
          ["seed", "x.iso", "--user-data", "missing"],
          /Cannot read --user-data "missing": the file does not exist/,
        ],
        // Named as given: cloud-localds's operand, not the flag.
        [
          ["seed", "x.iso", "missing"],
          /^vmkit: Cannot read user-data "missing": the file does not exist\n$/,
        ],
        [
          ["seed", "x.iso", "-N", "meta-data"],
          /^vmkit: Cannot use --network-config "meta-data": it is not a cloud-init network config, which has version: 1 or 2 \(maybe under network:\) or config: disabled\n$/,
        ],
        [
          ["seed", "x.iso", "--format", "configdrive", "-N", "meta-data"],
          /^vmkit: Cannot use --network-config "meta-data" for a ConfigDrive: it is not OpenStack network_data/,
        ],
      ] as [string[], RegExp][]
    ) {
      const { code, stderr } = await vmkit(args, { cwd: dir });
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.match(stderr, message);
    }
    // An existing ISO is replaced only with --overwrite, as img create and convert do.
    const kept = await Deno.readFile(`${dir}/seed.iso`);
    const again = await vmkit(["seed", "seed.iso", "user-data"], { cwd: dir });
    assert.deepEqual([again.code, again.stderr], [
      1,
      'vmkit: Cannot write seed "seed.iso": the file exists; pass --overwrite to replace it\n',
    ]);
    assert.deepEqual(await Deno.readFile(`${dir}/seed.iso`), kept);
    await Deno.chmod(`${dir}/seed.iso`, 0o644);
    await Deno.writeTextFile(
      `${dir}/network-config`,
      "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
    );
    const replaced = await vmkit(
      ["seed", "seed.iso", "--overwrite", "--user-data", "user-data", "-N", "network-config"],
      { cwd: dir },
    );
    assert.deepEqual(replaced, { code: 0, stdout: "", stderr: "" });
    assert.equal((await Deno.stat(`${dir}/seed.iso`)).mode! & 0o777, 0o600);
    assert.equal(
      await file("network-config"),
      "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
    );
    const nowhere = await vmkit(["seed", `${dir}/no/x.iso`], { cwd: dir });
    assert.deepEqual([nowhere.code, nowhere.stderr], [
      1,
      `vmkit: Cannot write seed "${dir}/no/x.iso": directory "${dir}/no" does not exist\n`,
    ]);
    assert.equal(
      await Deno.stat(`${dir}/x.iso`).catch(() => undefined),
      undefined,
      "nothing written on error",
    );
  });
});

const PREFIX = "vmkit-test-cli-";

async function unregisterTestEntries(): Promise<void> {
  for await (const item of Deno.readDir("/proc/sys/fs/binfmt_misc")) {
    if (!item.name.startsWith(PREFIX)) continue;
    using file = await Deno.open(`/proc/sys/fs/binfmt_misc/${item.name}`, { write: true });
    await file.write(new TextEncoder().encode("-1"));
  }
}

Deno.test({
  name:
    "vmkit binfmt registers, lists, checks and resets test entries with qemu-binfmt-conf.sh's flags",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await inTempDir(async (dir) => {
      const run = (...args: string[]) => vmkit(["binfmt", ...args], { cwd: dir });
      try {
        const dry = await run(
          "register",
          "--dry-run",
          "--arch",
          "riscv64",
          "-pyes",
          "-F-static",
          "--name-prefix",
          PREFIX,
        );
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(
          dry.stdout,
          /^:vmkit-test-cli-riscv64:M::\\x7f\\x45\\x4c\\x46.*:\/usr\/bin\/qemu-riscv64-static:F\n$/,
        );
        const registered = await run(
          "register",
          "--name-prefix",
          PREFIX,
          "--arch",
          "aarch64",
          "--persistent",
          "yes",
          "--json",
        );
        assert.equal(registered.code, 0, registered.stdout + registered.stderr);
        const report = JSON.parse(registered.stdout);
        assert.deepEqual(
          report.results.map((
            r: { entry: string; action: string; check: string },
          ) => [r.entry, r.action, r.check]),
          [[`${PREFIX}aarch64`, "registered", "working"]],
        );
        const status = JSON.parse((await run("status", "--json", "--name-prefix", PREFIX)).stdout);
        assert.deepEqual(
          status.entries.map((
            e: { name: string; enabled: boolean; target: string; flags: string },
          ) => [e.name, e.enabled, e.target, e.flags]),
          [[`${PREFIX}aarch64`, true, "aarch64", "F"]],
        );
        const table = await run("status", "--name-prefix", PREFIX);
        assert.match(
          table.stdout,
          /^NAME +ENABLED +TARGET +INTERPRETER +FLAGS\nvmkit-test-cli-aarch64 +yes +aarch64 +\/usr\/bin\/qemu-aarch64-static +F\n$/,
        );
        const check = await run("check", "aarch64");
        assert.equal(check.code, 0, check.stdout);
        assert.match(check.stdout, /^aarch64 +working +vmkit-test-cli-aarch64 +exit 42$/m);
        const reset = await run("reset", "--name-prefix", PREFIX, "--json");
        assert.deepEqual(JSON.parse(reset.stdout), { removed: [`${PREFIX}aarch64`] });
        const after = await run("check", "aarch64", "--json");
        assert.equal(after.code, 1, "an unregistered target fails the check");
        assert.equal(JSON.parse(after.stdout).results[0].state, "unregistered");
      } finally {
        await unregisterTestEntries();
      }
      const wrong = await run("register", "--arch", "arm64");
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /^vmkit: Cannot find QEMU target "arm64": use one of i386/);
      const own = await run("register", "--arch", "x86_64");
      assert.match(own.stderr, /Cannot register x86_64: it is this host's own architecture/);
      const maybe = await run("register", "-p", "maybe");
      assert.match(maybe.stderr, /Cannot use --persistent "maybe": give yes or no/);
      const systemd = await run(
        "register",
        "--systemd",
        `${dir}/binfmt.d`,
        "--arch",
        "s390x",
        "-c",
        "yes",
      );
      assert.equal(systemd.code, 0, systemd.stderr);
      assert.match(
        await Deno.readTextFile(`${dir}/binfmt.d/qemu-s390x.conf`),
        /^:qemu-s390x:M::\\x7f\\x45\\x4c\\x46\\x02\\x02.*:\/usr\/bin\/qemu-s390x-static:OC\n$/,
      );
    });
  },
});

/** The words bash completes at the end of `words` (the last one is being typed). */
async function complete(
  script: string,
  words: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args: [
      "-c",
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vmkit; printf "%s\\n" "${COMPREPLY[@]}"',
      "bash",
      script,
      ...words,
    ],
    env,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, decoder.decode(stderr));
  return decoder.decode(stdout).split("\n").filter((w) => w !== "").sort();
}

Deno.test("vmkit completions bash completes commands, options, values, files and instance names", async () => {
  await inTempDir(async (dir) => {
    const { code, stdout } = await vmkit(["completions", "bash"], { cwd: dir });
    assert.equal(code, 0);
    const script = `${dir}/vmkit.bash`;
    await Deno.writeTextFile(script, stdout);
    const top = await complete(script, ["vmkit", ""]);
    for (const name of ["img", "kernel", "seed", "binfmt", "completions"]) {
      assert.ok(top.includes(name), name);
    }
    assert.deepEqual(await complete(script, ["vmkit", "im"]), ["img"]);
    assert.deepEqual(await complete(script, ["vmkit", "img", ""]), [
      "convert",
      "create",
      "help",
      "info",
      "resize",
    ]);
    assert.deepEqual(await complete(script, ["vmkit", "img", "resize", "--s"]), ["--shrink"]);
    assert.deepEqual(await complete(script, ["vmkit", "completions", ""]), ["bash", "fish", "zsh"]);
    assert.deepEqual(await complete(script, ["vmkit", "binfmt", "register", "-p", "y"]), []);
    // A value is not taken for a subcommand: "create" here is --format's value.
    assert.deepEqual(await complete(script, ["vmkit", "img", "info", "-f", "create", "--b"]), [
      "--backing-chain",
    ]);
    await Deno.mkdir(`${dir}/kernels`);
    await Deno.writeTextFile(`${dir}/kernels/bzImage`, "");
    assert.deepEqual(await complete(script, ["vmkit", "kernel", `${dir}/kernels/bz`]), [
      `${dir}/kernels/bzImage`,
    ]);
    assert.deepEqual(await complete(script, ["vmkit", "kernel", "--modules", `${dir}/ker`]), [
      `${dir}/kernels`,
    ]);
    // Values from a fixed set: commander's choices, or what a flag's own parser takes.
    const values: [string[], string[]][] = [
      [["vmkit", "kernel", "--arch", ""], ["aarch64", "x86_64"]],
      [["vmkit", "img", "convert", "-O", "v"], ["vdi", "vhdx", "vmdk", "vpc"]],
      [["vmkit", "img", "create", "-f", ""], ["qcow2", "raw"]],
      [["vmkit", "img", "info", "--output=j"], ["--output=json"]],
      [["vmkit", "img", "info", "-f", "qc"], ["qcow2"]],
      [["vmkit", "seed", "x.iso", "--format", ""], ["configdrive", "nocloud"]],
      [["vmkit", "binfmt", "check", "riscv"], ["riscv32", "riscv64"]],
      [["vmkit", "help", "i"], ["img", "info"]],
      [["vmkit", "img", "help", "c"], ["convert", "create"]],
    ];
    for (const [words, expected] of values) {
      assert.deepEqual(await complete(script, words), expected, words.join(" "));
    }
    // Instance names come from `vmkit list --quiet`, run as the command line's first word.
    const wrapper = `${dir}/vmkit`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    const state = `${dir}/state`;
    // alpha's disk holds a snapshot, which a stopped instance's snapshot list reads.
    await program("qemu-img", ["create", "-q", "-f", "qcow2", `${dir}/alpha.qcow2`, "1M"]);
    await program("qemu-img", ["snapshot", "-c", "clean", `${dir}/alpha.qcow2`]);
    for (const name of ["alpha", "beta"]) {
      await Deno.mkdir(`${state}/vmkit/${name}`, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(
        `${state}/vmkit/${name}/instance.json`,
        JSON.stringify({
          version: 1,
          name,
          created: new Date().toISOString(),
          description: {
            arch: "x86_64",
            ...(name === "alpha"
              ? { drives: [{ file: `${dir}/alpha.qcow2`, format: "qcow2" }] }
              : {}),
          },
          arch: "x86_64",
          cpus: 1,
          memoryMiB: 128,
          agent: false,
        }),
      );
    }
    const env = { XDG_STATE_HOME: state, PATH: Deno.env.get("PATH") ?? "" };
    assert.deepEqual(await complete(script, [wrapper, "stop", ""], env), ["alpha", "beta"]);
    assert.deepEqual(await complete(script, [wrapper, "stop", "b"], env), ["beta"]);
    assert.deepEqual(await complete(script, [wrapper, "snapshot", "load", "alpha", ""], env), [
      "clean",
    ]);
    // cp takes NAME:PATH or a host path; a path in the guest is not completed, whether bash
    // split the word at its colon or not.
    assert.deepEqual(await complete(script, [wrapper, "cp", "a"], env, dir), [
      "alpha.qcow2",
      "alpha:",
    ]);
    assert.deepEqual(await complete(script, [wrapper, "cp", `${dir}/kernels/b`], env), [
      `${dir}/kernels/bzImage`,
    ]);
    assert.deepEqual(await complete(script, [wrapper, "cp", "alpha:/et"], env), []);
    assert.deepEqual(await complete(script, [wrapper, "cp", "alpha", ":", "/et"], env), []);
    assert.deepEqual(
      await complete(script, [wrapper, "cp", "alpha", ":", "/etc/hosts", "b"], env),
      ["beta:"],
    );
  });
});

Deno.test("vmkit completions zsh and fish are written from the same commands", async () => {
  await inTempDir(async (dir) => {
    const zsh = await vmkit(["completions", "zsh"], { cwd: dir });
    assert.equal(zsh.code, 0);
    assert.match(zsh.stdout, /bashcompinit/);
    assert.match(zsh.stdout, /'img'\) echo 'create info resize convert help' ;;/);
    const fish = await vmkit(["completions", "fish"], { cwd: dir });
    assert.equal(fish.code, 0);
    assert.match(fish.stdout, /^complete -c vmkit -n '__vmkit_at \\'img\\'' -f -a 'create' -d /m);
    assert.match(fish.stdout, /^complete -c vmkit -n '__vmkit_at \\'img resize\\'' -l shrink -d /m);
    const bad = await vmkit(["completions", "powershell"], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /'powershell' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/,
    );
  });
});
