import assert from "node:assert/strict";
import {
  type BinfmtEntry,
  entry,
  entryDifferences,
  exportFile,
  parseEntryStatus,
  registrationString,
} from "../../lib/binfmt/mod.ts";

Deno.test("registrationString writes the kernel's format with \\xHH bytes and an empty offset", () => {
  const line = registrationString(entry("aarch64", { qemuSuffix: "-static" }));
  assert.equal(
    line,
    ":qemu-aarch64:M::" +
      "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:" +
      "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:" +
      "/usr/bin/qemu-aarch64-static:",
  );
});

Deno.test("registrationString writes flags in kernel order and a non-zero offset", () => {
  const all = entry("arm", { credential: true, persistent: true, preserveArgv0: true });
  assert.ok(registrationString(all).endsWith(":/usr/bin/qemu-arm:POCF"));
  const custom: BinfmtEntry = {
    ...entry("arm", { name: "custom" }),
    offset: 4,
    magic: new Uint8Array([0x3a, 0x0a]),
    mask: new Uint8Array([0xff, 0xff]),
  };
  assert.equal(registrationString(custom), ":custom:M:4:\\x3a\\x0a:\\xff\\xff:/usr/bin/qemu-arm:");
  const ext: BinfmtEntry = { ...custom, type: "E", extension: "exe", interpreter: "/usr/bin/wine" };
  assert.equal(registrationString(ext), ":custom:E::exe::/usr/bin/wine:");
});

Deno.test("entry names i486's emulator qemu-i386 and rejects a relative qemuPath", () => {
  assert.equal(entry("i486", { qemuPath: "/opt/q/" }).interpreter, "/opt/q/qemu-i386");
  assert.throws(
    () => entry("arm", { qemuPath: "bin" }),
    /qemuPath "bin": the kernel needs an absolute path/,
  );
  assert.throws(() => entry("nope"), RangeError);
});

Deno.test("registrationString checks every kernel limit before anything is written", () => {
  const base = entry("riscv64", { name: "t" });
  const cases: [Partial<BinfmtEntry>, RegExp, typeof RangeError | typeof TypeError][] = [
    [
      { magic: new Uint8Array(129), mask: new Uint8Array(129) },
      /magic is 129 bytes, the kernel allows at most 128/,
      RangeError,
    ],
    [{ offset: 120 }, /offset 120 \+ magic 20 bytes ends past byte 128/, RangeError],
    [{ mask: new Uint8Array(19) }, /mask is 19 bytes but magic is 20/, RangeError],
    [{ offset: -1 }, /offset -1 must be an integer >= 0/, RangeError],
    [
      { interpreter: "/" + "x".repeat(1900) },
      /registration string is \d+ bytes, the kernel allows at most 1920/,
      RangeError,
    ],
    [{ name: "a/b" }, /the name must not contain "\/"/, TypeError],
    [{ name: "a:b" }, /the name must not contain/, TypeError],
    [{ name: "" }, /the name must not be empty/, TypeError],
    [
      { interpreter: "qemu-riscv64" },
      /interpreter "qemu-riscv64" must be an absolute path/,
      TypeError,
    ],
    [{ interpreter: "/usr/bin/a:b" }, /must be an absolute path without ":"/, TypeError],
    [{ interpreter: "/usr/bin/a\nb" }, /newline/, TypeError],
  ];
  for (const [change, message, kind] of cases) {
    assert.throws(() => registrationString({ ...base, ...change }), (e: Error) => {
      assert.ok(e instanceof kind, `${message}: got ${e.name}`);
      assert.match(e.message, message);
      assert.match(e.message, /^Cannot register binfmt_misc entry /);
      return true;
    });
  }
});

Deno.test("parseEntryStatus reads magic, extension and disabled entries as the kernel prints them", () => {
  const m = parseEntryStatus(
    "qemu-arm",
    "enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: POCF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
  );
  assert.equal(m.enabled, true);
  assert.equal(m.type, "M");
  assert.deepEqual(m.flags, {
    preserveArgv0: true,
    openBinary: true,
    credential: true,
    persistent: true,
  });
  assert.equal(m.magic.length, 20);
  assert.deepEqual(
    entryDifferences(
      m,
      entry("arm", {
        qemuSuffix: "-static",
        credential: true,
        persistent: true,
        preserveArgv0: true,
      }),
    ),
    [],
  );
  const e = parseEntryStatus(
    "jar",
    "disabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n",
  );
  assert.equal(e.enabled, false);
  assert.equal(e.type, "E");
  assert.equal(e.extension, "jar");
  assert.throws(
    () => parseEntryStatus("x", "garbage\n"),
    /Cannot parse binfmt_misc entry "x": it starts with "garbage"/,
  );
});

Deno.test("entryDifferences lists each differing field and compares magic masked", () => {
  const a = entry("s390x");
  const b = entry("s390x", { qemuSuffix: "-static", persistent: true });
  assert.deepEqual(entryDifferences(a, b), [
    'interpreter: "/usr/bin/qemu-s390x" → "/usr/bin/qemu-s390x-static"',
    'flags: "" → "F"',
  ]);
  const unmasked = { ...a, magic: a.magic.map((byte, i) => byte | (~a.mask[i] & 0xff)) };
  assert.deepEqual(entryDifferences(unmasked, a), [], "bits outside the mask do not count");
});

Deno.test("exportFile writes systemd binfmt.d lines and update-binfmts templates", () => {
  const e = entry("aarch64", { qemuSuffix: "-static", persistent: true, preserveArgv0: true });
  const systemd = exportFile(e, "systemd");
  assert.equal(systemd.name, "qemu-aarch64.conf");
  assert.equal(systemd.text, registrationString(e) + "\n");
  const debian = exportFile(e, "debian");
  assert.equal(debian.name, "qemu-aarch64");
  const fields = Object.fromEntries(
    debian.text.trim().split("\n").map((
      l,
    ) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
  );
  assert.deepEqual(Object.keys(fields), [
    "package",
    "interpreter",
    "magic",
    "mask",
    "credentials",
    "preserve",
    "fix_binary",
  ]);
  assert.equal(fields.interpreter, "/usr/bin/qemu-aarch64-static");
  assert.equal(fields.credentials, "no");
  assert.equal(fields.preserve, "yes");
  assert.equal(fields.fix_binary, "yes");
  assert.equal(
    fields.magic,
    "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00",
  );
});
