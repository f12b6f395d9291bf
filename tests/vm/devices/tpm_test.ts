import assert from "node:assert/strict";
import { type Arch, tinyGuest, type Vm, vm, VmBuilder, VmLaunchError } from "../../../mod.ts";
import { tpmKind } from "../../../lib/vm/devices/tpm.ts";
import { jsonOptions } from "../_argv.ts";

const RUNTIME = { accel: "tcg" as const, runtimeDir: "/tmp/rt" };

async function guestVm(): Promise<VmBuilder> {
  const g = await tinyGuest("x86_64");
  return vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd });
}

/** The options of the TPM's chardev, its -tpmdev and its -device, as written. */
function tpmArgs(argv: string[]): { chardev?: string; tpmdev?: string; device?: unknown } {
  return {
    chardev: argv.find((arg, i) => argv[i - 1] === "-chardev" && arg.includes("vmkit-tpm")),
    tpmdev: argv.find((_, i) => argv[i - 1] === "-tpmdev"),
    device: jsonOptions(argv, "-device").find((device) => "tpmdev" in device),
  };
}

/** Whether a process is gone (or a zombie that nobody reaped yet). */
async function isGone(pid: number): Promise<boolean> {
  const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
    (stat) => stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0],
    () => "gone",
  );
  return state === "gone" || state === "Z";
}

/** The live swtpm processes working in `dir` (vmkit runs swtpm in the VM's runtime dir). */
async function swtpmsIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
      const cwd = await Deno.readLink(`/proc/${pid}/cwd`);
      if (comm === "swtpm" && (cwd === dir || cwd === `${dir} (deleted)`) && !await isGone(pid)) {
        pids.push(pid);
      }
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return pids;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await isGone(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return await isGone(pid);
}

/** The argv of swtpm, from /proc. */
async function cmdline(pid: number): Promise<string[]> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
}

/**
 * Sends one raw TPM command through the guest's /dev/tpm0 (one write, one read on the same
 * file, as the kernel's TPM device wants) and returns the response's bytes.
 */
async function tpmCommand(machine: Vm, command: number[]): Promise<number[]> {
  const octal = command.map((byte) => `\\${byte.toString(8).padStart(3, "0")}`).join("");
  const { output, exitCode } = await machine.console.exec(
    `exec 3<>/dev/tpm0; printf '${octal}' >&3; dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1; exec 3<&-`,
  );
  assert.equal(exitCode, 0, output);
  return output.trim().split(/\s+/).map((hex) => parseInt(hex, 16));
}

/** The response code of a TPM 2.0 response (bytes 6-9). */
function responseCode(response: number[]): number {
  assert.ok(response.length >= 10, `short TPM response: ${response}`);
  return ((response[6] << 24) | (response[7] << 16) | (response[8] << 8) | response[9]) >>> 0;
}

const NV_INDEX = [0x01, 0x50, 0x00, 0x00];
/** TPM2_NV_ReadPublic of NV index 0x01500000, no sessions. */
const NV_READ_PUBLIC = [0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x69, ...NV_INDEX];
/**
 * TPM2_NV_DefineSpace under the owner hierarchy (empty password session): index 0x01500000,
 * SHA-256 names, owner read and write, 8 bytes.
 */
const NV_DEFINE_SPACE = [
  ...[0x80, 0x02, 0, 0, 0, 45, 0, 0, 0x01, 0x2a], // header: sessions, size, TPM_CC_NV_DefineSpace
  ...[0x40, 0, 0, 0x01], // TPM_RH_OWNER
  ...[0, 0, 0, 9, 0x40, 0, 0, 0x09, 0, 0, 0, 0, 0], // TPM_RS_PW, no nonce, no attributes, no hmac
  ...[0, 0], // auth of the index: empty
  ...[0, 14, ...NV_INDEX, 0, 0x0b, 0, 0x02, 0, 0x02, 0, 0, 0, 8], // TPM2B_NV_PUBLIC
];
const TPM_RC_SUCCESS = 0;
/** TPM_RC_HANDLE for the first handle: the index does not exist. */
const TPM_RC_HANDLE_1 = 0x18b;

// --- The command line -------------------------------------------------------------------------

Deno.test("a TPM is a socket chardev to swtpm's tpm.sock, an emulator tpmdev and the machine's TPM device", () => {
  const cases: [Arch, string, "2.0" | "1.2" | undefined, string][] = [
    ["x86_64", "q35", undefined, "tpm-crb"],
    ["x86_64", "q35", "1.2", "tpm-tis"],
    ["x86_64", "pc", "2.0", "tpm-crb"],
    ["x86_64", "pc-i440fx-7.2", "1.2", "tpm-tis"],
    ["aarch64", "virt", undefined, "tpm-tis-device"],
    ["riscv64", "virt", "1.2", "tpm-tis-device"],
    ["ppc64le", "pseries", undefined, "tpm-spapr"],
  ];
  for (const [arch, machine, version, driver] of cases) {
    const argv = vm({ arch }).machine(machine).device({
      kind: "tpm",
      ...version === undefined ? {} : { version },
    }).toArgv(RUNTIME);
    assert.deepEqual(tpmArgs(argv), {
      chardev: "socket,id=vmkit-tpm-chr,path=/tmp/rt/tpm.sock,server=off",
      tpmdev: "emulator,id=vmkit-tpm,chardev=vmkit-tpm-chr",
      device: { driver, tpmdev: "vmkit-tpm" },
    }, `${arch} ${machine} ${version}`);
    // The backend exists before the device that uses it.
    assert.ok(
      argv.indexOf("-tpmdev") < argv.indexOf(JSON.stringify({ driver, tpmdev: "vmkit-tpm" })),
    );
  }
});

Deno.test("a TPM in a JSON description gives the same command line as the builder's", () => {
  const json = {
    arch: "x86_64",
    devices: [{ kind: "tpm", version: "1.2", statePath: "/var/tpm" }],
  };
  const builder = vm({ arch: "x86_64" }).device({
    kind: "tpm",
    version: "1.2",
    statePath: "/var/tpm",
  });
  assert.deepEqual(VmBuilder.fromJSON(json).toArgv(RUNTIME), builder.toArgv(RUNTIME));
});

Deno.test("a TPM is refused on s390x and on machines without one, naming the machine", () => {
  assert.throws(
    () => vm({ arch: "s390x" }).device({ kind: "tpm" }),
    { name: "TypeError", message: "Cannot add a TPM: QEMU has no TPM device for s390x" },
  );
  for (
    const [arch, machine] of [
      ["x86_64", "microvm"],
      ["aarch64", "sbsa-ref"],
      ["ppc64le", "powernv"],
    ] as const
  ) {
    assert.throws(
      () => vm({ arch }).machine(machine).device({ kind: "tpm" }).toArgv(RUNTIME),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.includes(`Cannot add a TPM to machine "${machine}" (${arch})`),
      `${arch} ${machine}`,
    );
  }
});

Deno.test("a TPM's version and statePath are checked, naming the field", () => {
  for (const version of ["3.0", 2, "2"]) {
    assert.throws(
      () => vm({ arch: "x86_64" }).device({ kind: "tpm", version } as never),
      {
        name: "TypeError",
        message: `Cannot set tpm version to ${
          typeof version === "string" ? `"${version}"` : version
        }: use "2.0", "1.2"`,
      },
    );
  }
  assert.throws(
    () => VmBuilder.fromJSON({ arch: "x86_64", devices: [{ kind: "tpm", version: "1.1" }] }),
    /devices\[0\]\.version to "1\.1": use "2\.0", "1\.2"/,
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).device({ kind: "tpm", statePath: "a\nb" }),
    /Cannot set tpm statePath to "a\\nb": newline and NUL are not allowed/,
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).device({ kind: "tpm", statePath: "" }),
    /Cannot set tpm statePath to "": the path is empty/,
  );
  assert.throws(
    () => vm({ arch: "x86_64" }).device({ kind: "tpm", model: "tpm-tis" } as never),
    /Cannot add tpm device: unknown field "model"; use "version", "statePath"/,
  );
});

Deno.test("a VM has one TPM: a second replaces the first", () => {
  const argv = vm({ arch: "x86_64" }).device({ kind: "tpm" }).device({
    kind: "tpm",
    version: "1.2",
  })
    .toArgv(RUNTIME);
  assert.deepEqual(argv.filter((arg) => arg === "-tpmdev").length, 1);
  assert.deepEqual(tpmArgs(argv).device, { driver: "tpm-tis", tpmdev: "vmkit-tpm" });
});

// --- swtpm -----------------------------------------------------------------------------------

Deno.test("a TPM 2.0 reaches an x86_64 guest, and neither swtpm nor the runtime dir outlives the VM", async () => {
  let swtpm: number;
  let runtimeDir: string;
  {
    await using machine = await (await guestVm()).device({ kind: "tpm" }).launch({
      timeout: 60_000,
    });
    runtimeDir = machine.runtimeDir;
    assert.deepEqual(await machine.qmp.execute("query-tpm"), [{
      model: "tpm-crb",
      options: { type: "emulator", data: { chardev: "vmkit-tpm-chr" } },
      id: "vmkit-tpm",
    }]);
    const pids = await swtpmsIn(runtimeDir);
    assert.equal(pids.length, 1, "one swtpm runs in the VM's runtime dir");
    swtpm = pids[0];
    const argv = await cmdline(swtpm);
    assert.ok(argv.includes("--tpm2") && argv.includes("--terminate"), argv.join(" "));
    // The kernel found it, started it (no firmware did) and reads its PCRs.
    const version = await machine.console.exec("cat /sys/class/tpm/tpm0/tpm_version_major");
    assert.deepEqual(version, { output: "2", exitCode: 0 });
    const pcr = await machine.console.exec("cat /sys/class/tpm/tpm0/pcr-sha256/0");
    assert.match(pcr.output, /^[0-9A-F]{64}$/i);
    // A command of our own through /dev/tpm0: a fresh TPM has no NV index.
    assert.equal(responseCode(await tpmCommand(machine, NV_READ_PUBLIC)), TPM_RC_HANDLE_1);
    await assert.rejects(() => machine.addDevice({ kind: "tpm" }), {
      name: "TypeError",
      message:
        "Cannot hot-add tpm device: a TPM is attached when the VM starts (QEMU cannot hot-add a TPM backend)",
    });
  }
  assert.ok(await waitGone(swtpm, 5000), `swtpm ${swtpm} still runs after the VM`);
  await assert.rejects(() => Deno.stat(runtimeDir), Deno.errors.NotFound);
});

Deno.test("a TPM 1.2 reaches an x86_64 pc guest through tpm-tis, with swtpm started without --tpm2", async () => {
  // qboot, as on q35: under SeaBIOS, QEMU 7.2 would load the initrd over the ACPI tables.
  await using machine = await (await guestVm()).machine("pc")
    .firmware({ bios: "/usr/share/qemu/qboot.rom" })
    .device({ kind: "tpm", version: "1.2" })
    .launch({ timeout: 60_000 });
  const [tpm] = await machine.qmp.execute("query-tpm");
  assert.equal(tpm.model, "tpm-tis");
  const [swtpm] = await swtpmsIn(machine.runtimeDir);
  assert.ok(!(await cmdline(swtpm)).includes("--tpm2"));
  const version = await machine.console.exec("cat /sys/class/tpm/tpm0/tpm_version_major");
  assert.deepEqual(version, { output: "1", exitCode: 0 });
  // TPM 1.2's 24 PCRs of 20 bytes, read by the kernel from the TPM.
  const pcrs = await machine.console.exec("cat /sys/class/tpm/tpm0/device/pcrs");
  const lines = pcrs.output.split("\n");
  assert.equal(lines.length, 24, pcrs.output);
  lines.forEach((line, i) =>
    assert.match(line, new RegExp(`^PCR-${String(i).padStart(2, "0")}:( [0-9A-F]{2}){20} ?$`))
  );
});

Deno.test("a TPM's statePath outlives its VM and gives the next VM the same TPM, one VM at a time", async () => {
  const parent = await Deno.makeTempDir();
  const statePath = `${parent}/tpm-state`;
  try {
    const builder = (await guestVm()).device({ kind: "tpm", statePath });
    {
      await using first = await builder.launch({ timeout: 60_000 });
      assert.equal(responseCode(await tpmCommand(first, NV_READ_PUBLIC)), TPM_RC_HANDLE_1);
      assert.equal(responseCode(await tpmCommand(first, NV_DEFINE_SPACE)), TPM_RC_SUCCESS);
      // The state is this VM's while it runs: a second VM is refused before anything starts.
      await assert.rejects(
        () => builder.launch({ timeout: 60_000 }),
        (error: Error) =>
          error instanceof Deno.errors.Busy &&
          error.message.startsWith(
            `Cannot start the TPM: state directory "${statePath}" is in use by process `,
          ),
      );
    }
    assert.ok((await Deno.stat(`${statePath}/tpm2-00.permall`)).isFile);
    {
      await using second = await builder.launch({ timeout: 60_000 });
      const response = await tpmCommand(second, NV_READ_PUBLIC);
      assert.equal(responseCode(response), TPM_RC_SUCCESS);
      assert.deepEqual(response.slice(12, 16), NV_INDEX);
    }
    assert.ok((await Deno.stat(`${statePath}/tpm2-00.permall`)).isFile);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("swtpm exits on its own when QEMU is killed", async () => {
  const dir = await Deno.makeTempDir();
  const sidecar = await tpmKind.prepare!({ kind: "tpm" }, dir, 0, {});
  let qemu: Deno.ChildProcess | undefined;
  try {
    const [swtpm] = await swtpmsIn(dir);
    assert.ok(swtpm !== undefined, "swtpm runs in the directory");
    const argv = vm({ arch: "x86_64" }).device({ kind: "tpm" }).toArgv({
      ...RUNTIME,
      runtimeDir: dir,
    });
    const tpm = tpmArgs(argv);
    qemu = new Deno.Command("qemu-system-x86_64", {
      args: [
        ...["-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"],
        ...["-qmp", "stdio", "-chardev", tpm.chardev!, "-tpmdev", tpm.tpmdev!],
        ...["-device", JSON.stringify(tpm.device)],
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // QMP's greeting comes once QEMU is up, that is, once it has started the TPM.
    const reader = qemu.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    assert.match(value ?? "", /"QMP"/);
    assert.equal(await isGone(swtpm), false);
    qemu.kill("SIGKILL");
    await qemu.status;
    assert.ok(await waitGone(swtpm, 5000), `swtpm ${swtpm} still runs after QEMU was killed`);
    await reader.cancel();
    await qemu.stderr.cancel();
    await qemu.stdin.close();
  } finally {
    try {
      qemu?.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await sidecar.stop();
    // stop() removed what swtpm made: its socket, log and state.
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await Deno.remove(dir);
  }
});

Deno.test("swtpm's own words say why it did not start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Something swtpm cannot replace holds the socket's name.
    await Deno.mkdir(`${dir}/tpm.sock`);
    await assert.rejects(
      () => tpmKind.prepare!({ kind: "tpm" }, dir, 0, {}),
      (error: Error) => {
        assert.ok(error instanceof VmLaunchError);
        assert.match(
          error.message,
          /^Cannot start the TPM: Could not open UnixIO socket: Address already in use \(swtpm exited with code 1 during start-up\)\nargv: swtpm socket /,
        );
        assert.deepEqual(error.argv.slice(0, 2), ["swtpm", "socket"]);
        return true;
      },
    );
    assert.deepEqual(await swtpmsIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a TPM state directory is made when missing, but not its parent", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => tpmKind.prepare!({ kind: "tpm", statePath: `${dir}/no/state` }, dir, 0, {}),
      {
        name: "NotFound",
        message:
          `Cannot start the TPM: state directory "${dir}/no/state" cannot be made, its parent directory does not exist`,
      },
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(
      () => tpmKind.prepare!({ kind: "tpm", statePath: `${dir}/file` }, dir, 0, {}),
      {
        name: "TypeError",
        message: `Cannot start the TPM: state directory "${dir}/file" is not a directory`,
      },
    );
    const sidecar = await tpmKind.prepare!({ kind: "tpm", statePath: `${dir}/state` }, dir, 0, {});
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    await sidecar.stop();
    // A state directory the user keeps stays.
    assert.ok((await Deno.stat(`${dir}/state`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing swtpm, or no permission to run it, is named with what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/start.ts`;
    const tpm = new URL("../../../lib/vm/devices/tpm.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { tpmKind } from ${JSON.stringify(tpm)};
try {
  const sidecar = await tpmKind.prepare!({ kind: "tpm" }, ${JSON.stringify(dir)}, 0, {});
  await sidecar.stop();
  console.log("started");
} catch (error) {
  console.log(\`\${(error as Error).name}: \${(error as Error).message}\`);
}
`,
    );
    const run = async (permissions: string[], env: Record<string, string> = {}) => {
      const { stdout } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", ...permissions, script],
        env,
        stdout: "piped",
        stderr: "inherit",
      }).output();
      return new TextDecoder().decode(stdout).trim();
    };
    assert.equal(
      await run(["--allow-all"], { PATH: "/nonexistent" }),
      "NotFound: Cannot start the TPM: swtpm is not installed; install it with: apt-get install swtpm",
    );
    assert.match(
      await run([`--allow-read`, `--allow-write=${dir}`]),
      /^NotCapable: Cannot start the TPM: Deno may not run swtpm; grant --allow-run=swtpm/,
    );
    assert.equal(
      await run([`--allow-read`, `--allow-write=${dir}`, "--allow-run=swtpm"]),
      "started",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("QEMU attaches the TPM on aarch64 virt, riscv64 virt and ppc64le pseries", async () => {
  for (
    const [arch, model] of [
      ["aarch64", "tpm-tis"],
      ["riscv64", "tpm-tis"],
      ["ppc64le", "tpm-spapr"],
    ] as const
  ) {
    // Paused: QEMU has realized the TPM and spoken to swtpm; no guest is needed for that.
    await using machine = await vm({ arch }).memory("256M").arg("-S").device({ kind: "tpm" })
      .launch({ timeout: 60_000 });
    const [tpm] = await machine.qmp.execute("query-tpm");
    assert.equal(tpm.model, model, arch);
    assert.equal(tpm.options.type, "emulator");
    await machine.shutdown({ timeout: 0 });
  }
});

Deno.test("an aarch64 guest's device tree describes the TPM", async () => {
  // Debian's arm64 kernel has no tpm_tis driver for it, so the device tree is as far as it goes.
  const g = await tinyGuest("aarch64");
  await using machine = await vm({ arch: "aarch64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd }).device({ kind: "tpm" }).launch({ timeout: 60_000 });
  const { output, exitCode } = await machine.console.exec(
    "cat /proc/device-tree/platform-bus@*/tpm*/compatible",
  );
  assert.equal(exitCode, 0, output);
  assert.equal(output.replace(/\0/g, ""), "tcg,tpm-tis-mmio");
});

Deno.test("a TPM with a direct-boot initrd under SeaBIOS is refused: the guest would have no ACPI", () => {
  const base = vm({ arch: "x86_64" }).kernel("/k", { initrd: "/i" }).device({ kind: "tpm" });
  for (const b of [base.profile("classic"), base.machine("pc"), base.machine("pc-q35-7.2")]) {
    assert.throws(
      () => b.toArgv(),
      /Cannot add a TPM to a direct kernel boot with an initrd under SeaBIOS/,
    );
  }
  // qboot (the fast profile on q35, or given) and a boot without an initrd are fine.
  base.toArgv();
  base.machine("pc").firmware({ bios: "/usr/share/qemu/qboot.rom" }).toArgv();
  vm({ arch: "x86_64" }).profile("classic").kernel("/k").device({ kind: "tpm" }).toArgv();
});
