import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cloudInit, isoImage, type IsoImageOptions, vm } from "../../mod.ts";
import { scratchDir } from "../vm/_disks.ts";
import { tinyGuestWith } from "../vm/_guest.ts";

const DATE = new Date("2024-05-06T07:08:09Z");
const BIG = Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 31 + 7) & 0xff);
const LONG_64 = `${"L".repeat(60)}.txt`;
const UNICODE = "Ünïcødé файл 日本 😀.txt";
const DEEP = "deep/a/b/c/d/e/f/g/h/i/j/k/l/bottom.txt";

/** Every feature at once: what the readers below are checked against. */
const SAMPLE: IsoImageOptions = {
  volumeId: "vmkit test",
  date: DATE,
  files: {
    "user-data": "#cloud-config\n",
    "empty": "",
    "big.bin": BIG,
    "bin/run-me": { data: "#!/bin/sh\necho ran\n", mode: 0o755 },
    "bin/private": { data: "secret\n", mode: 0o600 },
    "bin/latest": { symlink: "run-me" },
    "bin/abs": { symlink: "/usr/bin/env" },
    "bin/up": { symlink: "../deep/./a" },
    [DEEP]: "12 levels down\n",
    [LONG_64]: "64\n",
    [UNICODE]: "unicode\n",
    "longfilename1.txt": "1\n",
    "longfilename2.txt": "2\n",
    "LongFileName3.TXT": "3\n",
    "Readme": "r\n",
    "README": "R\n",
    "a:b?c*d": "joliet forbids these\n",
    "trailing.": "dot\n",
  },
  dirs: ["empty-dir", "deep/a/side"],
};

/** Each path of SAMPLE (directories included), its kind, mode and size or link target. */
function sampleTree(): Map<string, { kind: string; mode: number; size?: number; target?: string }> {
  const tree = new Map<string, { kind: string; mode: number; size?: number; target?: string }>();
  const dir = (path: string) => {
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) {
      tree.set(parts.slice(0, i).join("/"), { kind: "d", mode: 0o755 });
    }
  };
  for (const path of SAMPLE.dirs!) dir(path);
  for (const [path, entry] of Object.entries(SAMPLE.files)) {
    if (path.includes("/")) dir(path.slice(0, path.lastIndexOf("/")));
    if (typeof entry === "string") {
      tree.set(path, { kind: "-", mode: 0o644, size: new TextEncoder().encode(entry).length });
    } else if (entry instanceof Uint8Array) {
      tree.set(path, { kind: "-", mode: 0o644, size: entry.length });
    } else if ("symlink" in entry) {
      tree.set(path, { kind: "l", mode: 0o777, target: entry.symlink });
    } else {
      const size = typeof entry.data === "string"
        ? new TextEncoder().encode(entry.data).length
        : entry.data.length;
      tree.set(path, { kind: "-", mode: entry.mode ?? 0o644, size });
    }
  }
  return tree;
}

async function run(command: string, args: string[]): Promise<{ out: Uint8Array; text: string }> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return { out: stdout, text };
}

/** Writes an image to a temporary file removed on dispose. */
async function imageFile(bytes: Uint8Array): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempFile({ prefix: "vmkit-iso-", suffix: ".iso" });
  await Deno.writeFile(path, bytes);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path) };
}

interface Listed {
  mode: string;
  size: number;
  target?: string;
}

/** xorriso's `-find / -exec lsdl` of one namespace (`any`: Rock Ridge, `norock`, `ecma119`). */
async function xorrisoList(path: string, namespace: string): Promise<Map<string, Listed>> {
  const { text } = await run("xorriso", [
    "-read_fs",
    namespace,
    "-indev",
    path,
    "-find",
    "/",
    "-exec",
    "lsdl",
  ]);
  const listing = new Map<string, Listed>();
  for (const line of text.split("\n")) {
    const m = line.match(
      /^(\S{10})\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\w{3}\s+\d+\s+\d+\s+'\/(.*?)'(?: -> '(.*)')?$/,
    );
    if (m && m[3] !== "") listing.set(m[3], { mode: m[1], size: Number(m[2]), target: m[4] });
  }
  return listing;
}

function modeString(kind: string, mode: number): string {
  const bits = "rwxrwxrwx";
  return kind + [...bits].map((c, i) => (mode & (1 << (8 - i))) ? c : "-").join("");
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

Deno.test("isoImage writes a volume isoinfo and blkid identify: label, size, Rock Ridge, Joliet", async () => {
  const bytes = isoImage(SAMPLE);
  await using file = await imageFile(bytes);
  const { text } = await run("isoinfo", ["-d", "-i", file.path]);
  assert.match(text, /^Volume id: vmkit test$/m);
  assert.match(text, /^Application id: VMKIT$/m);
  assert.match(text, /^Logical block size is: 2048$/m);
  assert.match(text, new RegExp(`^Volume size is: ${bytes.length / 2048}$`, "m"));
  assert.match(text, /^Joliet with UCS level 3 found$/m);
  assert.match(text, /^Rock Ridge signatures version 1 found$/m);
  const blkid = await run("blkid", ["-p", "-o", "export", file.path]);
  assert.match(blkid.text, /^TYPE=iso9660$/m);
  assert.match(blkid.text, /^LABEL=vmkit\\ test$/m);
  assert.match(blkid.text, /^UUID=2024-05-06-07-08-09-00$/m);
  const pvd = await run("xorriso", ["-indev", file.path, "-pvd_info"]);
  assert.match(pvd.text, /^Creation Time: 2024050607080900$/m);
  assert.match(pvd.text, /^Modif\. Time {2}: 2024050607080900$/m);
});

Deno.test("Rock Ridge keeps names, modes, sizes and links as xorriso and isoinfo read them", async () => {
  await using file = await imageFile(isoImage(SAMPLE));
  const listing = await xorrisoList(file.path, "any");
  const expected = sampleTree();
  assert.deepEqual([...listing.keys()].sort(), [...expected.keys()].sort());
  for (const [path, want] of expected) {
    const got = listing.get(path)!;
    assert.equal(got.mode, modeString(want.kind, want.mode), path);
    if (want.size !== undefined) assert.equal(got.size, want.size, path);
    assert.equal(got.target, want.target, path);
  }
  const { text } = await run("isoinfo", ["-R", "-l", "-i", file.path]);
  assert.match(text, /^lrwxrwxrwx .* abs -> \/usr\/bin\/env$/m);
  assert.match(text, /^-rw------- .* private $/m);
  assert.match(text, /^-rwxr-xr-x .* run-me $/m);
  assert.match(text, /^drwxr-xr-x +3 +0 +0 .* deep $/m); // links: itself, "..", and "a"
});

Deno.test("isoinfo extracts every file's exact bytes: a 0-byte file, a 3 MiB one, 12 levels down", async () => {
  await using file = await imageFile(isoImage(SAMPLE));
  for (const [path, entry] of Object.entries(SAMPLE.files)) {
    if (typeof entry === "object" && "symlink" in entry) continue;
    const data = typeof entry === "string" || entry instanceof Uint8Array ? entry : entry.data;
    const { out } = await run("isoinfo", ["-R", "-x", `/${path}`, "-i", file.path]);
    assert.equal(sha256(out), sha256(data), path);
  }
});

Deno.test("Joliet names are the long names, with its forbidden characters and case clashes renamed", async () => {
  await using file = await imageFile(isoImage(SAMPLE));
  const joliet = await xorrisoList(file.path, "norock");
  const names = [...joliet.keys()].filter((p) => !p.includes("/")).sort();
  assert.deepEqual(
    names,
    [
      LONG_64,
      "LongFileName3.TXT",
      "README",
      "Readme~1",
      "a_b_c_d",
      "big.bin",
      "bin",
      "deep",
      "empty",
      "empty-dir",
      "longfilename1.txt",
      "longfilename2.txt",
      "trailing_",
      "user-data",
      UNICODE,
    ].sort(),
  );
  assert.equal(joliet.get("bin/run-me")?.size, 19);
  assert.equal(joliet.get(DEEP)?.size, 15);
  assert.ok(!joliet.has("bin/abs"), "Joliet has no symbolic links");
  const { text } = await run("isoinfo", ["-J", "-l", "-i", file.path]);
  assert.match(text, new RegExp(` ${LONG_64};1 $`, "m"));
  assert.match(text, / user-data;1 $/m);
});

Deno.test("ISO 9660 names are unique level 1 identifiers (8.3, d-characters)", async () => {
  await using file = await imageFile(isoImage(SAMPLE));
  const { text } = await run("isoinfo", ["-l", "-i", file.path]);
  const byDir = new Map<string, string[]>();
  let dir = "";
  for (const line of text.split("\n")) {
    const heading = line.match(/^Directory listing of (.*)$/);
    if (heading) dir = heading[1];
    const entry = line.match(/^([d-])\S{9} .*\] {2}(\S+) $/);
    if (entry && entry[2] !== "." && entry[2] !== "..") {
      const pattern = entry[1] === "d" ? /^[A-Z0-9_]{1,8}$/ : /^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$/;
      assert.match(entry[2], pattern);
      byDir.set(dir, [...byDir.get(dir) ?? [], entry[2]]);
    }
  }
  assert.deepEqual(byDir.get("/")!.sort(), [
    "A_B_C_D.;1",
    "BIG.BIN;1",
    "BIN",
    "DEEP",
    "EMPTY.;1",
    "EMPTY_DI",
    "LLLLLLLL.TXT;1",
    "LONGFIL1.TXT;1",
    "LONGFIL2.TXT;1",
    "LONGFILE.TXT;1",
    "README.;1",
    "README1.;1",
    "TRAILING.;1",
    "USER_DAT.;1",
    "_N_C_D__.TXT;1",
  ]);
  const plain = await xorrisoList(file.path, "ecma119");
  assert.equal(plain.get("DEEP/A/B/C/D/E/F/G/H/I/J/K/L/BOTTOM.TXT")?.size, 15);
});

Deno.test("both hierarchies have L and M path tables listing every directory with its parent", async () => {
  const bytes = isoImage(SAMPLE);
  await using file = await imageFile(bytes);
  const view = new DataView(bytes.buffer);
  for (const [flag, sector, names] of [["", 16, "BIN"], ["-J", 17, "bin"]] as const) {
    const { text } = await run("isoinfo", [...(flag ? [flag] : []), "-p", "-i", file.path]);
    const rows = [...text.matchAll(/^ +(\d+): +(\d+) ([0-9a-f]+) (.*)$/gm)]
      .map((m) => ({ number: +m[1], parent: +m[2], extent: parseInt(m[3], 16), name: m[4] }));
    const directories = [...sampleTree().values()].filter((e) => e.kind === "d").length + 1;
    assert.equal(rows.length, directories);
    assert.ok(rows.some((r) => r.name === names && r.parent === 1));
    // The M table holds the same records big-endian.
    const pvd = sector * 2048;
    const size = view.getUint32(pvd + 132, true);
    const l = view.getUint32(pvd + 140, true) * 2048;
    const m = view.getUint32(pvd + 148, false) * 2048;
    for (let at = 0; at < size;) {
      const length = bytes[l + at];
      assert.equal(bytes[m + at], length);
      assert.equal(view.getUint32(l + at + 2, true), view.getUint32(m + at + 2, false));
      assert.equal(view.getUint16(l + at + 6, true), view.getUint16(m + at + 6, false));
      assert.deepEqual(
        bytes.subarray(l + at + 8, l + at + 8 + length),
        bytes.subarray(m + at + 8, m + at + 8 + length),
      );
      at += 8 + length + (length % 2);
    }
  }
});

Deno.test("xorriso reads every block of the image as good", async () => {
  await using file = await imageFile(isoImage(SAMPLE));
  const { text } = await run("xorriso", [
    "-abort_on",
    "NEVER",
    "-return_with",
    "WARNING",
    "32",
    "-indev",
    file.path,
    "-check_media",
    "--",
  ]);
  const blocks = isoImage(SAMPLE).length / 2048;
  assert.match(text, new RegExp(`^Media region : +0 , +${blocks} , \\+ good$`, "m"));
});

Deno.test("Rock Ridge names of 255 bytes and a link target over several SL entries read whole", async () => {
  // xorriso reads link targets up to 1023 bytes (Linux up to 4095: see the guest test).
  const target = `/${"x".repeat(300)}/./../${"y".repeat(600)}/z`.padEnd(1023, "z");
  const bytes = isoImage({
    volumeId: "LONG",
    joliet: false,
    files: {
      ["n".repeat(255)]: "255\n",
      ["é".repeat(127)]: "254 bytes\n",
      link: { symlink: target },
    },
  });
  await using file = await imageFile(bytes);
  const listing = await xorrisoList(file.path, "any");
  assert.deepEqual([...listing.keys()].sort(), ["link", "n".repeat(255), "é".repeat(127)].sort());
  assert.equal(listing.get("link")?.target, target);
  const { text } = await run("isoinfo", ["-d", "-i", file.path]);
  assert.match(text, /^NO Joliet present$/m);
});

Deno.test("the same options give the same bytes, whatever the order of files; another date other bytes", () => {
  const first = isoImage(SAMPLE);
  const reversed = isoImage({
    ...SAMPLE,
    files: Object.fromEntries(Object.entries(SAMPLE.files).reverse()),
    dirs: [...SAMPLE.dirs!].reverse(),
  });
  assert.deepEqual(reversed, first);
  assert.notDeepEqual(isoImage({ ...SAMPLE, date: new Date("2024-05-06T07:08:10Z") }), first);
  const undated = { volumeId: "X", files: { a: "a" } };
  assert.deepEqual(isoImage(undated), isoImage(undated));
  const text = new TextDecoder().decode(
    isoImage(undated).subarray(16 * 2048 + 813, 16 * 2048 + 829),
  );
  assert.equal(text, "1970010100000000");
});

Deno.test("isoImage refuses names, entries, labels and dates it cannot write, saying why", () => {
  const files = (f: Record<string, unknown>) => () =>
    isoImage({ volumeId: "X", files: f as IsoImageOptions["files"] });
  assert.throws(files({ "a\0b": "" }), {
    name: "TypeError",
    message: /"a\\u0000b" to the ISO image: it contains NUL/,
  });
  assert.throws(files({ "a//b": "" }), { name: "TypeError", message: /it has an empty component/ });
  assert.throws(files({ "a/../b": "" }), {
    name: "TypeError",
    message: /it has a "\.\." component/,
  });
  assert.throws(files({ "": "" }), { name: "TypeError", message: /the path is empty/ });
  assert.throws(files({ "dir/": "" }), { name: "TypeError", message: /empty component/ });
  assert.throws(files({ ["n".repeat(256)]: "" }), {
    name: "RangeError",
    message: /is 256 bytes long, Rock Ridge names hold 255/,
  });
  assert.throws(files({ ["j".repeat(65)]: "" }), {
    name: "RangeError",
    message: /is 65 UTF-16 code units long, Joliet names hold 64; shorten it or pass joliet: false/,
  });
  assert.throws(files({ "a\ud800": "" }), { message: /lone UTF-16 surrogate/ });
  assert.throws(files({ "a": "", "a/b": "" }), {
    name: "TypeError",
    message: /"a\/b" to the ISO image: "a" is a file/,
  });
  assert.throws(files({ "a/b": "", "a": "" }), { message: /"a" is a directory of other paths/ });
  assert.throws(files({ "a": "", "/a": "" }), {
    message: /"\/a" to the ISO image: "a" is given twice/,
  });
  assert.throws(files({ "a": 42 }), {
    name: "TypeError",
    message: /must be a string, a Uint8Array, \{ data, mode\? \} or \{ symlink \}/,
  });
  assert.throws(files({ "a": { data: "", mode: 0o10000 } }), {
    name: "RangeError",
    message: /mode 4096 is not permission bits/,
  });
  assert.throws(files({ "l": { symlink: "" } }), {
    message: /symbolic link "l" .*the target is empty/,
  });
  assert.throws(files({ "l": { symlink: "a//b" } }), { message: /empty component/ });
  assert.throws(() => isoImage({ volumeId: "", files: {} }), {
    name: "RangeError",
    message: /volume label "" must be 1 to 32 printable ASCII/,
  });
  assert.throws(() => isoImage({ volumeId: "x".repeat(33), files: {} }), { name: "RangeError" });
  assert.throws(() => isoImage({ volumeId: "é", files: {} }), { name: "RangeError" });
  assert.throws(
    () => isoImage({ volumeId: "X", files: {}, date: new Date("1899-12-31T00:00:00Z") }),
    {
      name: "RangeError",
      message: /outside 1900-2155/,
    },
  );
  assert.throws(() => isoImage({ volumeId: "X", files: { a: "" }, dirs: ["a"] }), {
    message: /directory "a" .*"a" is a file/,
  });
});

Deno.test("Linux mounts the images from virtio disks and sees each namespace: Rock Ridge, Joliet, ISO 9660", async () => {
  await using dir = await scratchDir();
  const g = await tinyGuestWith("x86_64", dir.path, { boot: ["isofs"] });
  await Deno.writeFile(`${dir.path}/sample.iso`, isoImage(SAMPLE));
  // 4094 bytes: more SL entries than one continuation area holds.
  const target = `/${"a".repeat(1500)}/${"b".repeat(1500)}/${"c".repeat(1091)}`;
  await Deno.writeFile(
    `${dir.path}/long.iso`,
    isoImage({
      volumeId: "LONG",
      joliet: false,
      files: { ["m".repeat(253)]: "253\n", ["n".repeat(255)]: "255\n", link: { symlink: target } },
    }),
  );
  const seed = cloudInit({
    userData: { hostname: "seeded", runcmd: [["touch", "/run/x"]] },
    networkConfig: { version: 2, ethernets: { eth0: { dhcp4: true } } },
  });
  await seed.write(`${dir.path}/seed.iso`);
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .drive(`${dir.path}/sample.iso`, { format: "raw", readOnly: true })
    .drive(`${dir.path}/long.iso`, { format: "raw", readOnly: true })
    .drive(`${dir.path}/seed.iso`, { format: "raw", readOnly: true })
    .launch({ timeout: 60_000 });
  const sh = async (command: string) => {
    const { output, exitCode } = await machine.console.exec(command);
    assert.equal(exitCode, 0, `${command}: ${output}`);
    return output;
  };
  const find = async () =>
    (await sh("cd /mnt && find . -mindepth 1 && cd /")).split("\n").map((p) => p.slice(2)).sort();
  await sh("mkdir -p /mnt && mount -t iso9660 -o ro /dev/vda /mnt");
  const tree = sampleTree();
  assert.deepEqual(await find(), [...tree.keys()].sort());
  for (const [path, want] of tree) {
    const stat = await sh(`stat -c '%A %s %Y' '/mnt/${path}'`);
    assert.equal(stat.split(" ")[0], modeString(want.kind, want.mode), path);
    assert.equal(Number(stat.split(" ")[2]), DATE.getTime() / 1000, path);
    if (want.kind === "-") assert.equal(Number(stat.split(" ")[1]), want.size, path);
    if (want.kind === "l") assert.equal(await sh(`readlink '/mnt/${path}'`), want.target);
  }
  assert.equal((await sh("sha256sum /mnt/big.bin")).split(" ")[0], sha256(BIG));
  assert.equal(await sh(`cat '/mnt/${UNICODE}' /mnt/${DEEP}`), "unicode\n12 levels down");
  assert.equal(await sh("/mnt/bin/run-me"), "ran");

  await sh("umount /mnt && mount -t iso9660 -o ro,norock /dev/vda /mnt");
  const joliet = await find();
  assert.ok(
    joliet.includes(UNICODE) && joliet.includes(LONG_64) && joliet.includes("a_b_c_d"),
    joliet.join(),
  );
  assert.ok(joliet.includes(DEEP) && joliet.includes("Readme~1") && !joliet.includes("bin/abs"));
  await sh("umount /mnt && mount -t iso9660 -o ro,norock,nojoliet /dev/vda /mnt");
  const plain = await find();
  assert.ok(
    plain.includes("user_dat") && plain.includes("longfil1.txt") && plain.includes("bin/run_me"),
    plain.join(),
  );

  await sh("umount /mnt && mount -t iso9660 -o ro /dev/vdb /mnt");
  // Linux 6.1 reads Rock Ridge names up to 253 bytes; a longer one is cut to its first NM entry.
  assert.deepEqual(await find(), ["link", "m".repeat(253), "n".repeat(250)]);
  assert.equal(await sh("readlink /mnt/link"), target);

  await sh("umount /mnt && mount -t iso9660 -o ro /dev/vdc /mnt");
  assert.deepEqual(await find(), ["meta-data", "network-config", "user-data"]);
  for (const [name, text] of Object.entries(seed.files)) {
    assert.equal((await sh(`sha256sum /mnt/${name}`)).split(" ")[0], sha256(text), name);
  }
  await machine.shutdown();
});
