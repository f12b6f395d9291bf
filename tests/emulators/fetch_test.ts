import assert from "node:assert/strict";
import { EmulatorFetchError, emulators, runForeign } from "../../mod.ts";
import { FOREIGN_BUSYBOXES } from "../binfmt/_foreign.ts";
import { buildApk, buildIndex, serveRepository, type TestApk } from "./_alpine.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";

async function repositoryWith(
  apk: TestApk,
  index: { size?: number; checksum?: string } = {},
) {
  const files = new Map([
    ["APKINDEX.tar.gz", await buildIndex([{ apk, ...index }])],
    [`${apk.name}-${apk.version}.apk`, apk.bytes],
  ]);
  return serveRepository(files);
}

async function qemuApk(): Promise<TestApk> {
  return await buildApk("qemu-aarch64", "9.9.9-r0", [
    { name: "usr/bin/qemu-aarch64", data: await Deno.readFile(QEMU) },
    {
      name: "usr/share/doc/qemu-aarch64/README",
      data: new TextEncoder().encode("test\n"),
      mode: 0o644,
    },
  ]);
}

async function cacheEntries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

Deno.test("emulators.fetch downloads, verifies and caches qemu-aarch64 from an Alpine repository", async () => {
  const cacheDir = await Deno.makeTempDir();
  await using repo = await repositoryWith(await qemuApk());
  try {
    const progress: number[] = [];
    const fetched = await emulators.fetch("aarch64", {
      mirror: repo.mirror,
      hostArch: "x86_64",
      cacheDir,
      onProgress: ({ received, total }) => {
        progress.push(received);
        assert.equal(total, repo.files.get("qemu-aarch64-9.9.9-r0.apk")!.length);
      },
    });
    assert.deepEqual(fetched, {
      target: "aarch64",
      path: `${cacheDir}/qemu-aarch64`,
      package: "qemu-aarch64",
      version: "9.9.9-r0",
      cached: false,
    });
    assert.ok(
      progress.length > 0 &&
        progress.at(-1) === repo.files.get("qemu-aarch64-9.9.9-r0.apk")!.length,
    );
    assert.deepEqual(await Deno.readFile(fetched.path), await Deno.readFile(QEMU));
    assert.equal((await Deno.stat(fetched.path)).mode! & 0o777, 0o755);
    assert.deepEqual(await cacheEntries(cacheDir), ["qemu-aarch64", "qemu-aarch64.json"]);

    const busybox = FOREIGN_BUSYBOXES.find((b) => b.deb === "arm64")!;
    const child = await runForeign(busybox.path, ["uname", "-m"], {
      emulatorDirs: [cacheDir],
      stdout: "piped",
    });
    assert.equal(child.emulator, `${cacheDir}/qemu-aarch64`);
    assert.equal(new TextDecoder().decode((await child.output()).stdout).trim(), "aarch64");

    const requests = repo.requests.length;
    const again = await emulators.fetch("aarch64", {
      mirror: repo.mirror,
      hostArch: "x86_64",
      cacheDir,
    });
    assert.equal(again.cached, true);
    assert.equal(again.version, "9.9.9-r0");
    assert.equal(repo.requests.length, requests, "the second fetch made no request");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

const FAILURES: {
  name: string;
  index?: (apk: TestApk) => { size?: number; checksum?: string };
  misbehave?: "truncate" | "stop-mid-body" | "not-found";
  message: RegExp;
}[] = [
  {
    name: "a bad control checksum",
    index: () => ({ checksum: "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=" }),
    message:
      /the control checksum of http:\/\/127\.0\.0\.1:\d+\/.*qemu-aarch64-9\.9\.9-r0\.apk is Q1\S+, the index says Q1AAAA/,
  },
  {
    name: "a size that does not match the index",
    index: (apk) => ({ size: apk.bytes.length - 10 }),
    message: /is larger than the \d+ bytes the index gives \(wrong size\)/,
  },
  {
    name: "a truncated body",
    misbehave: "truncate",
    message: /has \d+ bytes, the index says \d+ \(truncated or wrong size\)/,
  },
  {
    name: "a server that stops mid-body",
    misbehave: "stop-mid-body",
    message: /the download of .*\.apk broke off after \d+ of \d+ bytes/,
  },
  {
    name: "a missing package file",
    misbehave: "not-found",
    message: /GET .*qemu-aarch64-9\.9\.9-r0\.apk answered 404 Not Found/,
  },
];

for (const failure of FAILURES) {
  Deno.test(`emulators.fetch leaves no file in the cache after ${failure.name}`, async () => {
    const cacheDir = await Deno.makeTempDir();
    const apk = await qemuApk();
    await using repo = await repositoryWith(apk, failure.index?.(apk));
    repo.misbehave = failure.misbehave ?? "none";
    try {
      await assert.rejects(
        () => emulators.fetch("aarch64", { mirror: repo.mirror, hostArch: "x86_64", cacheDir }),
        (e: Error) => {
          assert.ok(e instanceof EmulatorFetchError, `${e.name}: ${e.message}`);
          assert.match(e.message, /^Cannot fetch qemu-aarch64: /);
          assert.match(e.message, failure.message);
          return true;
        },
      );
      assert.deepEqual(await cacheEntries(cacheDir), []);
    } finally {
      await Deno.remove(cacheDir, { recursive: true });
    }
  });
}

Deno.test("emulators.fetch names what is missing: the package, the index, the host architecture", async () => {
  const cacheDir = await Deno.makeTempDir();
  await using repo = await repositoryWith(await qemuApk());
  try {
    await assert.rejects(
      () => emulators.fetch("riscv64", { mirror: repo.mirror, hostArch: "x86_64", cacheDir }),
      /Cannot fetch qemu-riscv64: the index http:\/\/127\.0\.0\.1:\d+\/alpine\/latest-stable\/community\/x86_64\/APKINDEX\.tar\.gz has no package qemu-riscv64/,
    );
    await assert.rejects(
      () =>
        emulators.fetch("aarch64", {
          mirror: repo.mirror,
          branch: "v0.0",
          hostArch: "x86_64",
          cacheDir,
        }),
      /GET .*\/v0\.0\/community\/x86_64\/APKINDEX\.tar\.gz answered 404 Not Found/,
    );
    await assert.rejects(
      () =>
        emulators.fetch("aarch64", {
          mirror: "http://127.0.0.1:1/alpine",
          hostArch: "x86_64",
          cacheDir,
        }),
      (e: Error) =>
        e instanceof EmulatorFetchError &&
        /^Cannot fetch qemu-aarch64: GET http:\/\/127\.0\.0\.1:1\/alpine\/.*APKINDEX\.tar\.gz failed: /
          .test(e.message),
    );
    await assert.rejects(
      () => emulators.fetch("aarch64", { mirror: repo.mirror, hostArch: "vax", cacheDir }),
      /Cannot fetch qemu-aarch64 for host "vax": Alpine builds for x86_64/,
    );
    assert.deepEqual(await cacheEntries(cacheDir), []);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("emulators.fetch stops and cleans up when the signal aborts", async () => {
  const cacheDir = await Deno.makeTempDir();
  const apk = await qemuApk();
  await using repo = await repositoryWith(apk);
  repo.misbehave = "stop-mid-body"; // the body stalls for a moment after the first half
  try {
    const controller = new AbortController();
    const reason = new Error("user cancelled");
    const pending = emulators.fetch("aarch64", {
      mirror: repo.mirror,
      hostArch: "x86_64",
      cacheDir,
      signal: controller.signal,
      onProgress: () => controller.abort(reason),
    });
    await assert.rejects(() => pending, (e) => e === reason);
    assert.deepEqual(await cacheEntries(cacheDir), []);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("gzipMembers splits an .apk into its signature, control and data members", async () => {
  const apk = await qemuApk();
  const members = await emulators.gzipMembers(apk.bytes);
  assert.equal(members.length, 3);
  assert.equal(members.reduce((n, m) => n + m.length, 0), apk.bytes.length);
  const control = new TextDecoder().decode(await emulators.gunzipMember(members[1]));
  assert.match(control, /^\.PKGINFO\0/);
  await assert.rejects(
    () => emulators.gzipMembers(new Uint8Array([1, 2, 3])),
    /byte 0 does not start a gzip member/,
  );
});

Deno.test("parseApkIndex reads every package and rejects one without a size", () => {
  const entries = emulators.parseApkIndex(
    "C:Q1a=\nP:qemu-arm\nV:1-r0\nA:x86_64\nS:10\nT:x\n\nC:Q1b=\nP:qemu-ppc\nV:2-r0\nA:x86_64\nS:20\n",
  );
  assert.deepEqual(entries.map((e) => [e.name, e.version, e.size, e.checksum]), [
    ["qemu-arm", "1-r0", 10, "Q1a="],
    ["qemu-ppc", "2-r0", 20, "Q1b="],
  ]);
  assert.equal(entries[0].fields.T, "x");
  assert.throws(
    () => emulators.parseApkIndex("P:x\nV:1\nA:x86_64\nC:Q1a=\n"),
    /the entry of "x" has no S: field/,
  );
});
