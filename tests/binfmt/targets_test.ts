import assert from "node:assert/strict";
import {
  foreignTargets,
  hostTarget,
  magicMatches,
  QEMU_TARGETS,
  qemuTarget,
} from "../../lib/binfmt/mod.ts";

Deno.test("QEMU_TARGETS has the 34 targets of qemu-binfmt-conf.sh with equal-length magic and mask", () => {
  assert.equal(QEMU_TARGETS.length, 34);
  assert.equal(new Set(QEMU_TARGETS.map((t) => t.name)).size, 34);
  for (const t of QEMU_TARGETS) {
    assert.equal(t.magic.length, t.mask.length, t.name);
    assert.deepEqual([...t.magic.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], t.name);
    assert.ok(magicMatches(t.magic, t.magic, t.mask), `${t.name} matches its own magic`);
  }
  assert.equal(qemuTarget("i486").emulator, "qemu-i386");
});

function debianBytes(escaped: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < escaped.length;) {
    if (escaped.startsWith("\\x", i)) {
      out.push(parseInt(escaped.slice(i + 2, i + 4), 16));
      i += 4;
    } else {
      out.push(escaped.charCodeAt(i++));
    }
  }
  return out;
}

Deno.test("QEMU_TARGETS agrees with Debian's qemu-user-static binfmts files", async (t) => {
  let compared = 0;
  for (const target of QEMU_TARGETS) {
    let text: string;
    try {
      text = await Deno.readTextFile(`/usr/share/binfmts/qemu-${target.name}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    compared++;
    await t.step(target.name, () => {
      const magic = debianBytes(/^magic (.*)$/m.exec(text)![1]);
      const mask = debianBytes(/^mask (.*)$/m.exec(text)![1]);
      assert.equal(Number(/^offset (\d+)$/m.exec(text)?.[1] ?? 0), target.offset);
      // Debian's entry accepts the ELF header our table describes ...
      for (let i = 0; i < magic.length; i++) {
        assert.equal((target.magic[i] ?? 0) & mask[i], magic[i] & mask[i], `byte ${i}`);
      }
      // ... and where Debian compares a whole byte, so do we, with the same value.
      for (let i = 0; i < Math.min(magic.length, target.magic.length); i++) {
        if (mask[i] === 0xff) {
          assert.equal(target.magic[i] & target.mask[i], magic[i] & target.mask[i], `byte ${i}`);
        }
      }
    });
  }
  // Debian's qemu-user-static (a CI dependency) ships the files; make sure they were read.
  assert.ok(compared >= 25, `only ${compared} Debian files compared`);
});

Deno.test("hostTarget maps uname -m and Debian names to QEMU families", () => {
  assert.deepEqual(hostTarget("x86_64"), { machine: "x86_64", family: "i386", target: "x86_64" });
  assert.equal(hostTarget("i686").family, "i386");
  assert.equal(hostTarget("amd64").target, "x86_64");
  assert.deepEqual(hostTarget("armv7l"), { machine: "armv7l", family: "arm", target: "arm" });
  assert.equal(hostTarget("arm64").target, "aarch64");
  assert.equal(hostTarget("ppc64le").family, "ppcle");
  assert.equal(hostTarget("ppc64").family, "ppc");
  assert.equal(hostTarget("mips64el").family, "mips");
  assert.equal(hostTarget("s390x").family, "s390x");
  assert.equal(hostTarget("loongarch64").family, "loongarch");
  assert.throws(() => hostTarget(""), /Cannot detect the host's QEMU family from machine ""/);
});

Deno.test("foreignTargets skips the host's whole family unless ignoreFamily is set", () => {
  const names = (ts: { name: string }[]) => ts.map((t) => t.name);
  const x86 = names(foreignTargets("x86_64"));
  assert.equal(x86.length, 31);
  for (const n of ["i386", "i486", "x86_64"]) assert.ok(!x86.includes(n), n);
  assert.ok(x86.includes("aarch64") && x86.includes("arm"));
  const all = names(foreignTargets("x86_64", { ignoreFamily: true }));
  assert.ok(all.includes("i386") && all.includes("i486"));
  assert.ok(!all.includes("x86_64"), "the host's own target is never foreign");
  const arm = names(foreignTargets("aarch64"));
  assert.ok(!arm.includes("arm") && !arm.includes("aarch64") && arm.includes("x86_64"));
  assert.ok(arm.includes("armeb"), "big-endian ARM is another family");
});

Deno.test("qemuTarget names the known targets when given an unknown one", () => {
  assert.throws(() => qemuTarget("arm64"), (e: Error) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /^Cannot find QEMU target "arm64": use one of i386, i486, alpha/);
    return true;
  });
});
