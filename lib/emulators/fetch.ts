/**
 * Downloading a static `qemu-<target>` from an Alpine Linux repository, verified against the
 * repository's index, into a local cache.
 *
 * @module
 */

import { createTarDecoder } from "npm:modern-tar@^0.8.6";
import { concatBytes } from "../_bytes.ts";
import { envVar } from "../_env.ts";
import { parseElfHeader } from "../binfmt/elf.ts";
import { qemuTarget, type QemuTargetName } from "../binfmt/targets.ts";
import { type ApkIndexEntry, parseApkIndex } from "./apk_index.ts";
import { gunzipMember, gzipMembers } from "./gzip_members.ts";
import { progressLine } from "../_progress.ts";
import { encodeBase64 } from "../_base64.ts";

/**
 * An emulator could not be downloaded or did not pass verification. Nothing was left in the
 * cache.
 */
export class EmulatorFetchError extends Error {
  /** Always `"EmulatorFetchError"`. */
  override readonly name = "EmulatorFetchError";
  /** The URL involved. */
  readonly url: string;

  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param url The URL involved.
   * @param options The underlying error.
   */
  constructor(message: string, url: string, options?: ErrorOptions) {
    super(message, options);
    this.url = url;
  }
}

/** Progress of a download. */
export interface FetchProgress {
  /** Bytes received so far. */
  received: number;
  /** Bytes expected (the index's `S:` size). */
  total: number;
}

/** Options of {@linkcode fetchEmulator}. */
export interface FetchEmulatorOptions {
  /** The machine the emulator will run on (`uname -m`). Default `Deno.build.arch`. */
  hostArch?: string;
  /** Alpine mirror. Default `https://dl-cdn.alpinelinux.org/alpine`. */
  mirror?: string;
  /** Alpine branch. Default `latest-stable`. */
  branch?: string;
  /** Alpine repository. Default `community`, where the qemu packages are. */
  repository?: string;
  /**
   * Directory of the cache. Default `$XDG_CACHE_HOME/vmkit/emulators/<hostArch>`, else
   * `$HOME/.cache/vmkit/emulators/<hostArch>`.
   */
  cacheDir?: string;
  /** Called as bytes of the `.apk` arrive. */
  onProgress?: (progress: FetchProgress) => void;
  /** Draw a progress bar on stderr when it is a terminal. Default `true`. */
  progress?: boolean;
  /** Cancels the download; nothing is left in the cache. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds. Default none. */
  timeout?: number;
}

/** A downloaded emulator. */
export interface FetchedEmulator {
  /** The target. */
  target: QemuTargetName;
  /** Path of the executable in the cache. */
  path: string;
  /** Alpine package name. */
  package: string;
  /** Alpine package version. */
  version: string;
  /** Whether it came from the cache without any download. */
  cached: boolean;
}

const MAX_APK_SIZE = 512 * 1024 * 1024;

const ALPINE_ARCHES: Readonly<Record<string, string>> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
  armv7l: "armv7",
  armhf: "armv7",
  i386: "x86",
  i686: "x86",
  ppc64le: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loongarch64: "loongarch64",
};

function defaultCacheDir(hostArch: string): string {
  const base = envVar("XDG_CACHE_HOME") ||
    (envVar("HOME") ? `${envVar("HOME")}/.cache` : undefined);
  if (base === undefined) {
    throw new TypeError(
      "Cannot choose the emulator cache: neither XDG_CACHE_HOME nor HOME is readable (grant --allow-env=XDG_CACHE_HOME,HOME or pass { cacheDir })",
    );
  }
  return `${base}/vmkit/emulators/${hostArch}`;
}

function describe(response: Response): string {
  return `${response.status} ${response.statusText}`.trim();
}

async function sha1Base64(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-1", bytes as Uint8Array<ArrayBuffer>),
  );
  return encodeBase64(digest);
}

/**
 * Downloads `qemu-<target>` (a static build) from an Alpine repository: reads the repository's
 * `APKINDEX.tar.gz`, picks the `qemu-<target>` package, downloads its `.apk` as a stream,
 * checks its size against the index's `S:` and its control checksum against `C:` (`Q1` + base64
 * SHA-1 of the second gzip member), extracts `usr/bin/qemu-<target>` from the data member and
 * writes it into the cache atomically (a temporary file renamed into place), executable. A file
 * already in the cache is returned without any download. Any failure leaves no file behind.
 *
 * @param target The QEMU target, e.g. `"aarch64"`.
 * @param options Host architecture, mirror, branch, cache directory, progress, cancellation.
 * @returns Where the emulator is, and which package it came from.
 * @throws {RangeError} When the target or host architecture is unknown.
 * @throws {Error} When the index or package cannot be downloaded or fails verification; the
 *   message names the URL and what did not match.
 *
 * @example
 * ```ts
 * import { emulators, runForeign } from "@vmkit/vmkit";
 * const qemu = await emulators.fetch("riscv64");
 * const child = await runForeign("./hello-riscv64", [], { emulator: qemu.path });
 * ```
 */
export async function fetchEmulator(
  target: string,
  options: FetchEmulatorOptions = {},
): Promise<FetchedEmulator> {
  const t = qemuTarget(target);
  const hostArch = options.hostArch ?? Deno.build.arch;
  const alpineArch = ALPINE_ARCHES[hostArch];
  if (alpineArch === undefined) {
    throw new RangeError(
      `Cannot fetch ${t.emulator} for host ${JSON.stringify(hostArch)}: Alpine builds for ${
        Object.keys(ALPINE_ARCHES).join(", ")
      }`,
    );
  }
  const cacheDir = (options.cacheDir ?? defaultCacheDir(hostArch)).replace(/\/+$/, "");
  const path = `${cacheDir}/${t.emulator}`;
  const metaPath = `${path}.json`;
  try {
    const meta = JSON.parse(await Deno.readTextFile(metaPath));
    await Deno.stat(path);
    return { target: t.name, path, package: meta.package, version: meta.version, cached: true };
  } catch {
    // Not cached (or half of it is missing): download.
  }

  const signals = [
    options.signal,
    options.timeout === undefined ? undefined : AbortSignal.timeout(options.timeout),
  ]
    .filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);
  const mirror = (options.mirror ?? "https://dl-cdn.alpinelinux.org/alpine").replace(/\/+$/, "");
  const base = `${mirror}/${options.branch ?? "latest-stable"}/${
    options.repository ?? "community"
  }/${alpineArch}`;
  const what = `Cannot fetch ${t.emulator}`;

  // 1. The index.
  const indexUrl = `${base}/APKINDEX.tar.gz`;
  const indexResponse = await get(indexUrl, signal, what);
  if (!indexResponse.ok) {
    await indexResponse.body?.cancel();
    throw new EmulatorFetchError(
      `${what}: GET ${indexUrl} answered ${describe(indexResponse)}`,
      indexUrl,
    );
  }
  const indexBytes = new Uint8Array(await indexResponse.arrayBuffer());
  let indexText: string | undefined;
  try {
    const tar = await Promise.all((await gzipMembers(indexBytes)).map(gunzipMember));
    for await (const entry of readTar(concatBytes(tar))) {
      if (entry.name === "APKINDEX") indexText = new TextDecoder().decode(await entry.bytes());
      else await entry.skip();
    }
  } catch (error) {
    throw new EmulatorFetchError(`${what}: ${indexUrl} is not a valid APKINDEX.tar.gz`, indexUrl, {
      cause: error,
    });
  }
  if (indexText === undefined) {
    throw new EmulatorFetchError(`${what}: ${indexUrl} has no APKINDEX file`, indexUrl);
  }
  const packageName = t.emulator;
  const pkg: ApkIndexEntry | undefined = parseApkIndex(indexText).find((p) =>
    p.name === packageName
  );
  if (pkg === undefined) {
    throw new EmulatorFetchError(
      `${what}: the index ${indexUrl} has no package ${packageName}`,
      indexUrl,
    );
  }
  if (!pkg.checksum.startsWith("Q1")) {
    throw new EmulatorFetchError(
      `${what}: the index gives ${packageName} checksum ${
        JSON.stringify(pkg.checksum)
      }, not a Q1 (SHA-1) checksum`,
      indexUrl,
    );
  }
  if (pkg.size > MAX_APK_SIZE) {
    throw new EmulatorFetchError(
      `${what}: the index gives ${packageName} a size of ${pkg.size} bytes, more than vmkit accepts (${MAX_APK_SIZE})`,
      indexUrl,
    );
  }

  // 2. The package, streamed and size-checked.
  const apkUrl = `${base}/${pkg.name}-${pkg.version}.apk`;
  const apkResponse = await get(apkUrl, signal, what);
  if (!apkResponse.ok || apkResponse.body === null) {
    await apkResponse.body?.cancel();
    throw new EmulatorFetchError(
      `${what}: GET ${apkUrl} answered ${describe(apkResponse)}`,
      apkUrl,
    );
  }
  const bar = progressLine(`${pkg.name}-${pkg.version}.apk`, options.progress !== false);
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const apk = new Uint8Array(pkg.size);
  let received = 0;
  try {
    for await (const chunk of apkResponse.body) {
      if (received + chunk.length > pkg.size) {
        throw new EmulatorFetchError(
          `${what}: ${apkUrl} is larger than the ${pkg.size} bytes the index gives (wrong size)`,
          apkUrl,
        );
      }
      apk.set(chunk, received);
      received += chunk.length;
      options.onProgress?.({ received, total: pkg.size });
      bar.update(received / pkg.size, `${mb(received)}/${mb(pkg.size)} MB`);
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof EmulatorFetchError) throw error;
    throw new EmulatorFetchError(
      `${what}: the download of ${apkUrl} broke off after ${received} of ${pkg.size} bytes`,
      apkUrl,
      { cause: error },
    );
  } finally {
    bar.done();
  }
  if (received !== pkg.size) {
    throw new EmulatorFetchError(
      `${what}: ${apkUrl} has ${received} bytes, the index says ${pkg.size} (truncated or wrong size)`,
      apkUrl,
    );
  }

  // 3. The control checksum.
  let members: Uint8Array[];
  try {
    members = await gzipMembers(apk, { count: 3 });
  } catch (error) {
    throw new EmulatorFetchError(
      `${what}: ${apkUrl} is not an .apk (concatenated gzip members)`,
      apkUrl,
      {
        cause: error,
      },
    );
  }
  if (members.length < 2) {
    throw new EmulatorFetchError(`${what}: ${apkUrl} has one gzip member, not an .apk`, apkUrl);
  }
  // Signed packages have three members (signature, control, data); unsigned ones two.
  const control = members.length === 3 ? members[1] : members[0];
  const data = members[members.length - 1];
  const checksum = `Q1${await sha1Base64(control)}`;
  if (checksum !== pkg.checksum) {
    throw new EmulatorFetchError(
      `${what}: the control checksum of ${apkUrl} is ${checksum}, the index says ${pkg.checksum}`,
      apkUrl,
    );
  }

  // 4. Extract usr/bin/qemu-<target> into a temporary file, then rename it into place.
  await Deno.mkdir(cacheDir, { recursive: true });
  const temp = await Deno.makeTempFile({
    dir: cacheDir,
    prefix: `.${t.emulator}.`,
    suffix: ".tmp",
  });
  try {
    let found = false;
    const member = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    for await (const entry of readTar(member)) {
      if (entry.name !== `usr/bin/${t.emulator}`) {
        await entry.skip();
        continue;
      }
      using file = await Deno.open(temp, { write: true, truncate: true });
      await entry.body.pipeTo(file.writable, { preventClose: true });
      found = true;
    }
    if (!found) {
      throw new EmulatorFetchError(`${what}: ${apkUrl} has no usr/bin/${t.emulator}`, apkUrl);
    }
    using check = await Deno.open(temp, { read: true });
    const head = new Uint8Array(64);
    await check.read(head);
    try {
      parseElfHeader(head);
    } catch (error) {
      throw new EmulatorFetchError(
        `${what}: usr/bin/${t.emulator} in ${apkUrl} is not an ELF binary`,
        apkUrl,
        { cause: error },
      );
    }
    await Deno.chmod(temp, 0o755);
    await Deno.writeTextFile(
      `${metaPath}.tmp`,
      JSON.stringify({
        package: pkg.name,
        version: pkg.version,
        checksum: pkg.checksum,
        url: apkUrl,
      }) +
        "\n",
    );
    await Deno.rename(temp, path);
    await Deno.rename(`${metaPath}.tmp`, metaPath);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    await Deno.remove(`${metaPath}.tmp`).catch(() => {});
    if (signal?.aborted) throw signal.reason;
    if (error instanceof EmulatorFetchError) throw error;
    throw new EmulatorFetchError(`${what}: cannot extract it from ${apkUrl}`, apkUrl, {
      cause: error,
    });
  }
  return { target: t.name, path, package: pkg.name, version: pkg.version, cached: false };
}

async function get(url: string, signal: AbortSignal | undefined, what: string): Promise<Response> {
  try {
    return await globalThis.fetch(url, { signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new EmulatorFetchError(`${what}: GET ${url} failed: ${(error as Error).message}`, url, {
      cause: error,
    });
  }
}

interface TarFile {
  name: string;
  body: ReadableStream<Uint8Array>;
  bytes(): Promise<Uint8Array>;
  skip(): Promise<void>;
}

async function* readTar(input: Uint8Array | ReadableStream<Uint8Array>): AsyncGenerator<TarFile> {
  const decoder = createTarDecoder();
  const source = input instanceof Uint8Array
    ? new Blob([input as Uint8Array<ArrayBuffer>]).stream()
    : input;
  const piping = source.pipeTo(decoder.writable);
  piping.catch(() => {}); // reported through the readable side
  for await (const entry of decoder.readable) {
    yield {
      name: entry.header.name.replace(/^\.\//, ""),
      body: entry.body,
      bytes: async () => new Uint8Array(await new Response(entry.body).arrayBuffer()),
      skip: () => entry.body.cancel(),
    };
  }
  await piping;
}
