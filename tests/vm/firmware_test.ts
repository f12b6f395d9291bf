import assert from "node:assert/strict";
import { firmwareDescriptors, selectFirmware, tinyGuest, vm, VmBuilder } from "../../mod.ts";
import { jsonOptions } from "./_argv.ts";
import { scratchDir } from "./_disks.ts";

Deno.test("firmware is found through QEMU's descriptors, by arch, machine and Secure Boot", async () => {
  const descriptors = await firmwareDescriptors();
  const x86 = selectFirmware(descriptors, "x86_64", "q35", { interface: "uefi" });
  assert.equal(x86.executable, "/usr/share/OVMF/OVMF_CODE_4M.fd");
  assert.equal(x86.nvramTemplate, "/usr/share/OVMF/OVMF_VARS_4M.fd");
  const secure = selectFirmware(descriptors, "x86_64", "pc-q35-7.2", {
    interface: "uefi",
    secureBoot: true,
  });
  assert.ok(secure.features.includes("secure-boot") && secure.features.includes("requires-smm"));
  const enrolled = selectFirmware(descriptors, "x86_64", "q35", {
    interface: "uefi",
    secureBoot: true,
    enrolledKeys: true,
  });
  assert.ok(enrolled.features.includes("enrolled-keys"));
  assert.equal(
    selectFirmware(descriptors, "aarch64", "virt", { interface: "uefi" }).executable,
    "/usr/share/AAVMF/AAVMF_CODE.fd",
  );
  // Debian's Secure Boot OVMF is q35 only; nothing fits pc, or riscv64 here.
  assert.throws(
    () => selectFirmware(descriptors, "x86_64", "pc", { interface: "uefi", secureBoot: true }),
    /Cannot find uefi with Secure Boot firmware for x86_64 machine "pc" .*apt-get install ovmf/,
  );
  assert.throws(
    () => selectFirmware(descriptors, "riscv64", "virt", { interface: "uefi" }),
    /apt-get install qemu-efi-riscv64/,
  );
});

Deno.test("a descriptor in a later directory replaces one of the same name; an empty one hides it", async () => {
  await using dir = await scratchDir();
  for (const name of ["a", "b"]) await Deno.mkdir(`${dir.path}/${name}`);
  const descriptor = (code: string) =>
    JSON.stringify({
      "interface-types": ["uefi"],
      mapping: { device: "flash", executable: { filename: code, format: "raw" } },
      targets: [{ architecture: "x86_64", machines: ["pc-q35-*"] }],
      features: [],
    });
  await Deno.writeTextFile(`${dir.path}/a/60-x.json`, descriptor("/share/CODE.fd"));
  await Deno.writeTextFile(`${dir.path}/a/70-y.json`, descriptor("/share/OTHER.fd"));
  await Deno.writeTextFile(`${dir.path}/b/60-x.json`, descriptor("/etc/CODE.fd"));
  await Deno.writeTextFile(`${dir.path}/b/70-y.json`, "");
  const found = await firmwareDescriptors({ dirs: [`${dir.path}/a`, `${dir.path}/b`] });
  assert.deepEqual(found.map((d) => d.executable), ["/etc/CODE.fd"]);
});

Deno.test('.firmware("uefi") resolves to flash code and a per-VM store; Secure Boot adds SMM', async () => {
  const builder = vm({ arch: "x86_64" }).firmware("uefi");
  assert.throws(() => builder.toArgv(), /firmware "uefi" unresolved/);
  const argv = (await builder.resolved()).toArgv({ runtimeDir: "/run/x" });
  assert.deepEqual(
    jsonOptions(argv, "-blockdev").map((n) => (n.file as { filename: string }).filename),
    ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/run/x/efivars.fd"],
  );
  const secure = (await vm({ arch: "x86_64" }).firmware({ interface: "uefi", secureBoot: true })
    .resolved()).toArgv();
  assert.equal(
    secure[secure.indexOf("-machine") + 1],
    "q35,smm=on,pflash0=vmkit-fw-code,pflash1=vmkit-fw-vars",
  );
  assert.ok(secure.includes("driver=cfi.pflash01,property=secure,value=on"));
  // "bios" is QEMU's own SeaBIOS when no descriptor offers one: no -bios, and no qboot.
  const bios = (await vm({ arch: "x86_64" }).kernel("/k").firmware("bios").resolved()).toArgv();
  assert.ok(!bios.includes("-bios"));
  // A description reads "uefi" and checks the rest; the firmware is found at launch.
  VmBuilder.fromJSON({ arch: "x86_64", firmware: "uefi" });
  assert.throws(
    () => vm({ arch: "x86_64" }).firmware("efi" as "uefi"),
    /firmware to "efi": use "uefi", "bios"/,
  );
});

Deno.test('the tiny guest boots through OVMF with .firmware("uefi")', async () => {
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M").firmware("uefi")
    .kernel(g.kernel.replace(/vmlinux$/, "vmlinuz"), { initrd: g.initrd })
    .launch({ timeout: 120_000 });
  assert.equal(
    (await machine.console.exec("test -d /sys/firmware/efi && echo efi", { timeout: 60_000 }))
      .output,
    "efi",
  );
  const store = await Deno.stat(`${machine.runtimeDir}/efivars.fd`);
  assert.equal(store.size, (await Deno.stat("/usr/share/OVMF/OVMF_VARS_4M.fd")).size);
  if (g.kernel.endsWith("vmlinux")) {
    await assert.rejects(
      vm({ arch: "x86_64" }).firmware("uefi").kernel(g.kernel).launch(),
      /kernel ".*vmlinux" is an ELF image \(vmlinux\), which UEFI firmware cannot start/,
    );
  }
});

Deno.test("a script Deno may not let read QEMU's descriptors is told which directory to grant", async () => {
  await using dir = await scratchDir();
  const script = `${dir.path}/descriptors.ts`;
  await Deno.writeTextFile(
    script,
    `import { firmwareDescriptors } from "${new URL("../../mod.ts", import.meta.url).href}";
await firmwareDescriptors().catch((e) => console.log(e.name + ": " + e.message));`,
  );
  const repo = new URL("../..", import.meta.url).pathname;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--allow-read=${repo},${dir.path}`, script],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.match(
    new TextDecoder().decode(stdout),
    /NotCapable: Cannot read QEMU's firmware descriptors in "\/usr\/share\/qemu\/firmware": grant --allow-read=\/usr\/share\/qemu\/firmware/,
  );
});
