import assert from "node:assert/strict";
import { image, ImageFetchError, ImageTimeoutError } from "../../mod.ts";
import { entries, scratchDir } from "./_images.ts";
import { digestOf, serve } from "./_server.ts";

/** Random bytes, 256 KiB unless told. */
function randomBytes(length = 256 * 1024): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65536));
  }
  return bytes;
}

Deno.test("image.fetch downloads into the cache under its digest, and then answers from the cache", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes();
  await using server = serve(bytes);
  const digest = await digestOf(bytes);
  const progress: { received: number; total?: number }[] = [];
  const path = await image.fetch(server.url("ranged"), {
    digest,
    cache: dir.path,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(path, `${dir.path}/${digest.replace(":", "-")}`);
  assert.deepEqual(await Deno.readFile(path), bytes);
  assert.deepEqual(await entries(dir.path), [digest.replace(":", "-")]);
  assert.ok(progress.length > 0);
  assert.deepEqual(progress.at(-1), { received: bytes.length, total: bytes.length });
  assert.deepEqual(
    progress.map((p) => p.received),
    progress.map((p) => p.received).sort((a, b) => a - b),
  );
  // Cached: no request at all, even for a URL that would fail now.
  assert.equal(server.requests.length, 1);
  assert.equal(await image.fetch(server.url("missing"), { digest, cache: dir.path }), path);
  assert.equal(server.requests.length, 1);
  // An upper-case digest is the same entry; sha512 is taken too.
  assert.equal(
    await image.fetch(server.url("ranged"), {
      digest: digest.toUpperCase().replace("SHA256", "sha256"),
      cache: dir.path,
    }),
    path,
  );
  const sha512 = await digestOf(bytes, "SHA-512");
  const path512 = await image.fetch(server.url("plain"), { digest: sha512, cache: `${dir.path}/` });
  assert.equal(path512, `${dir.path}/${sha512.replace(":", "-")}`);
  assert.deepEqual(await Deno.readFile(path512), bytes);
});

Deno.test("image.fetch resumes a download that broke off with a Range request, and verifies the whole", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes();
  await using server = serve(bytes);
  const path = await image.fetch(server.url("cut-once"), {
    digest: await digestOf(bytes),
    cache: dir.path,
  });
  assert.deepEqual(await Deno.readFile(path), bytes);
  assert.deepEqual(server.requests.map((r) => [r.range, r.ifRange]), [
    [null, null],
    [`bytes=${bytes.length / 2}-`, '"v1"'],
  ]);
  assert.deepEqual(await entries(dir.path), [path.slice(dir.path.length + 1)]);
});

Deno.test("image.fetch starts over when the file changed on the server between the cut and the resume", async () => {
  await using dir = await scratchDir();
  const before = randomBytes();
  const after = randomBytes();
  await using server = serve(before, after);
  const path = await image.fetch(server.url("changing"), {
    digest: await digestOf(after),
    cache: dir.path,
  });
  // If-Range named the first ETag, so the server sent the new file whole, not its tail.
  assert.deepEqual(await Deno.readFile(path), after);
  assert.deepEqual(server.requests.map((r) => r.ifRange), [null, '"v1"']);
});

Deno.test("image.fetch resumes the part a killed download left, or starts over where Range is not taken", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes();
  const digest = await digestOf(bytes);
  const entry = `${dir.path}/${digest.replace(":", "-")}`;
  await using server = serve(bytes);
  await Deno.writeFile(`${entry}.part`, bytes.subarray(0, 100_000));
  const progress: number[] = [];
  assert.equal(
    await image.fetch(server.url("ranged"), {
      digest,
      cache: dir.path,
      onProgress: (p) => progress.push(p.received),
    }),
    entry,
  );
  assert.deepEqual(await Deno.readFile(entry), bytes);
  assert.deepEqual(server.requests.map((r) => r.range), ["bytes=100000-"]);
  assert.ok(progress[0] > 100_000);
  await Deno.remove(entry);
  // The part is wrong past its first bytes: the digest of the whole catches it.
  await Deno.writeFile(`${entry}.part`, new Uint8Array(100_000));
  const spliced = new Uint8Array(bytes);
  spliced.fill(0, 0, 100_000);
  const actual = (await digestOf(spliced)).slice("sha256:".length);
  await assert.rejects(() => image.fetch(server.url("ranged"), { digest, cache: dir.path }), {
    name: "ImageFetchError",
    message: `Cannot fetch image "${server.url("ranged")}": its sha256 is ${actual}, not ${
      digest.slice(7)
    } (the file is not the one expected)`,
  });
  assert.deepEqual(await entries(dir.path), []);
  // A server without Range sends the whole file again: the part is replaced, not appended to.
  await Deno.writeFile(`${entry}.part`, bytes.subarray(0, 100_000));
  assert.equal(await image.fetch(server.url("plain"), { digest, cache: dir.path }), entry);
  assert.deepEqual(await Deno.readFile(entry), bytes);
  assert.deepEqual(await entries(dir.path), [digest.replace(":", "-")]);
});

Deno.test("image.fetch fails clearly and leaves nothing in the cache", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes();
  const digest = await digestOf(bytes);
  await using server = serve(bytes);
  const check = async (
    url: string,
    message: string,
    fields: Partial<ImageFetchError>,
    wanted = digest,
  ) => {
    const error = await image.fetch(url, { digest: wanted, cache: dir.path }).catch((e) => e);
    assert.ok(error instanceof ImageFetchError, String(error));
    assert.equal(error.message, `Cannot fetch image "${url}": ${message}`);
    assert.equal(error.url, url);
    assert.equal(error.digest, wanted);
    for (const [key, value] of Object.entries(fields)) {
      assert.equal(error[key as keyof ImageFetchError], value, key);
    }
    assert.deepEqual(await entries(dir.path), []);
  };
  await check(
    server.url("cut-plain"),
    `the download broke off after ${
      bytes.length / 2
    } of ${bytes.length} bytes, and the server does not take Range requests to resume it`,
    { status: undefined },
  );
  await check(
    server.url("cut-always"),
    `the download broke off 4 times; the last time after 4000 of ${bytes.length} bytes`,
    {},
  );
  await check(server.url("missing"), "GET answered 404 Not Found", { status: 404 });
  const wrong = `sha256:${"0".repeat(64)}`;
  await check(
    server.url("ranged"),
    `its sha256 is ${digest.slice(7)}, not ${"0".repeat(64)} (the file is not the one expected)`,
    { actualDigest: digest },
    wrong,
  );
  const closed = server.url("ranged").replace(/:\d+\//, ":1/");
  const error = await image.fetch(closed, { digest, cache: dir.path }).catch((e) => e);
  assert.ok(error instanceof ImageFetchError);
  assert.match(error.message, new RegExp(`^Cannot fetch image "${closed}": GET failed: `));
  assert.deepEqual(await entries(dir.path), []);
});

Deno.test("image.fetch cancelled or timed out leaves nothing in the cache", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes(1024 * 1024);
  const digest = await digestOf(bytes);
  await using server = serve(bytes);
  const controller = new AbortController();
  const reason = new Error("enough");
  await assert.rejects(
    () =>
      image.fetch(server.url("slow"), {
        digest,
        cache: dir.path,
        signal: controller.signal,
        onProgress: ({ received }) => received >= 128 * 1024 && controller.abort(reason),
      }),
    reason,
  );
  assert.deepEqual(await entries(dir.path), []);
  const error = await image.fetch(server.url("slow"), { digest, cache: dir.path, timeout: 200 })
    .catch((e) => e);
  assert.ok(error instanceof ImageTimeoutError, String(error));
  assert.equal(error.message, `Cannot fetch image "${server.url("slow")}": timed out after 200 ms`);
  assert.deepEqual(await entries(dir.path), []);
  await assert.rejects(
    () =>
      image.fetch(server.url("slow"), {
        digest,
        cache: dir.path,
        signal: AbortSignal.abort(reason),
      }),
    reason,
  );
});

Deno.test("image.fetch called twice at once for one digest downloads it once", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes(512 * 1024);
  const digest = await digestOf(bytes);
  await using server = serve(bytes);
  const [a, b] = await Promise.all([
    image.fetch(server.url("slow"), { digest, cache: dir.path }),
    image.fetch(server.url("slow"), { digest, cache: dir.path }),
  ]);
  assert.equal(a, b);
  assert.deepEqual(await Deno.readFile(a), bytes);
  assert.equal(server.requests.length, 1);
  assert.deepEqual(await entries(dir.path), [digest.replace(":", "-")]);
});

Deno.test("image.fetch caches under XDG_CACHE_HOME by default", async () => {
  await using dir = await scratchDir();
  const bytes = randomBytes(1024);
  await using server = serve(bytes);
  const saved = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", dir.path);
  try {
    const digest = await digestOf(bytes);
    assert.equal(
      await image.fetch(server.url("ranged"), { digest }),
      `${dir.path}/vmkit/images/${digest.replace(":", "-")}`,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved);
  }
});

Deno.test("image.fetch names a bad digest or URL", async () => {
  const url = "http://127.0.0.1:1/disk.img";
  for (const digest of ["md5:abc", "sha256:abc", `sha512:${"a".repeat(64)}`, "a".repeat(64)]) {
    await assert.rejects(() => image.fetch(url, { digest, cache: "/nonexistent" }), {
      name: "RangeError",
      message: `Cannot fetch image "${url}": digest ${
        JSON.stringify(digest)
      } is not "sha256:" and 64 hex digits, or "sha512:" and 128`,
    });
  }
  const digest = `sha256:${"a".repeat(64)}`;
  await assert.rejects(() => image.fetch("ftp://example.com/disk.img", { digest }), {
    name: "RangeError",
    message:
      `Cannot fetch image "ftp://example.com/disk.img": only http: and https: URLs are fetched`,
  });
  await assert.rejects(() => image.fetch("disk.img", { digest }), {
    name: "RangeError",
    message: `Cannot fetch image "disk.img": it is not a URL`,
  });
  await assert.rejects(() => image.fetch(url, { digest, timeout: -5 }), {
    name: "RangeError",
    message: `Cannot fetch image "${url}" with timeout -5: use milliseconds from 0 to 2147483647`,
  });
});
