import assert from "node:assert/strict";
import {
  elfInterpreter,
  elfTarget,
  parseElfHeader,
  PROBE_TARGETS,
  probeElf,
} from "../../lib/binfmt/mod.ts";
import { FOREIGN_BUSYBOXES } from "./_foreign.ts";

Deno.test("elfTarget names the target of Debian's busybox-static for each architecture", async () => {
  for (const busybox of FOREIGN_BUSYBOXES) {
    const bytes = await Deno.readFile(busybox.path);
    assert.equal(elfTarget(bytes)?.name, busybox.target, busybox.deb);
    assert.equal(elfInterpreter(bytes), undefined, `${busybox.deb} busybox is static`);
  }
});

Deno.test("elfTarget tells mips o32 from n32 by the ABI2 flag, as the kernel does", () => {
  const o32 = probeElf("mips")!;
  assert.equal(elfTarget(o32)?.name, "mips");
  const n32 = o32.slice();
  n32[39] |= 0x20; // EF_MIPS_ABI2, big-endian e_flags at byte 36
  assert.equal(elfTarget(n32)?.name, "mipsn32");
  const n32el = probeElf("mipsel")!.slice();
  n32el[36] |= 0x20;
  assert.equal(elfTarget(n32el)?.name, "mipsn32el");
});

Deno.test("elfTarget matches position-independent executables and nothing for other files", () => {
  const pie = probeElf("aarch64")!.slice();
  pie[16] = 3; // ET_DYN
  assert.equal(elfTarget(pie)?.name, "aarch64");
  const core = probeElf("aarch64")!.slice();
  core[16] = 4; // ET_CORE
  assert.equal(elfTarget(core), undefined);
  assert.equal(elfTarget(new TextEncoder().encode("#!/bin/sh\necho hi\n")), undefined);
  assert.equal(elfTarget(new Uint8Array(3)), undefined);
});

Deno.test("elfInterpreter reads PT_INTERP of a dynamic binary", async () => {
  const deno = await Deno.readFile(Deno.execPath());
  assert.match(elfInterpreter(deno) ?? "", /^\/lib.*\/ld-linux.*\.so\.\d$/);
  for (const target of PROBE_TARGETS) assert.equal(elfInterpreter(probeElf(target)!), undefined);
});

Deno.test("parseElfHeader rejects what is not ELF with a clear error", () => {
  assert.throws(
    () => parseElfHeader(new TextEncoder().encode("#!/bin/sh".padEnd(64))),
    /does not start with \\x7fELF/,
  );
  const bad = probeElf("x86_64")!.slice();
  bad[4] = 7;
  assert.throws(() => parseElfHeader(bad), /class 7 or data encoding 1 is not valid/);
  const h = parseElfHeader(probeElf("s390x")!);
  assert.deepEqual([h.bits, h.endian, h.machine, h.type], [64, "big", 0x16, 2]);
});

Deno.test("probeElf programs exit with 42 under qemu-user for every probe target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const target of PROBE_TARGETS) {
      const path = `${dir}/${target}`;
      await Deno.writeFile(path, probeElf(target)!, { mode: 0o755 });
      const qemu = `/usr/bin/qemu-${target}-static`;
      const { code } = await new Deno.Command(qemu, { args: [path] }).output();
      assert.equal(code, 42, target);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
