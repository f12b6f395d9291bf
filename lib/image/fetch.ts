/**
 * Downloading an image into a content-addressed cache, verified against its digest.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { envVar } from "../_env.ts";
import { pathExists } from "../_fs.ts";
import { ImageFetchError, ImageTimeoutError } from "./errors.ts";
import { lockPartFile, type PartFile, writeAll } from "./_part_file.ts";
import { progressLine } from "../_progress.ts";

/** Progress of {@linkcode fetchImage}. */
export interface FetchImageProgress {
  /** Bytes in the cache so far, with those of a resumed download. */
  received: number;
  /** The file's size, when the server says it. */
  total?: number;
}

/** Options of {@linkcode fetchImage}. */
export interface FetchImageOptions extends WaitOptions {
  /**
   * The file's digest: `"sha256:<64 hex digits>"` or `"sha512:<128 hex digits>"` (Debian
   * publishes SHA512SUMS, Ubuntu SHA256SUMS).
   */
  digest: string;
  /**
   * The cache directory. Default `$XDG_CACHE_HOME/vmkit/images`, else
   * `$HOME/.cache/vmkit/images`.
   */
  cache?: string;
  /** Called as bytes arrive. */
  onProgress?: (progress: FetchImageProgress) => void;
  /** Draw a progress line on stderr when it is a terminal. Default `false`. */
  progress?: boolean;
}

const DIGESTS: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };
/** Times a download that broke off is resumed (with `Range`) before giving up. */
const MAX_RESUMES = 3;

/**
 * Downloads `url` into the cache as `<cache>/<algorithm>-<hex>` and returns that path. A file
 * already there is returned at once, with no network. Otherwise the bytes stream into
 * `<entry>.part` in the same directory while they are hashed, and the file is renamed into
 * place only when its digest matches. A download that breaks off is resumed with a `Range`
 * request when the server takes them (up to 3 times), and a `.part` left by a process that was
 * killed is resumed by the next call; the digest always covers the whole file. Any failure
 * (an HTTP error, a download broken off for good, a wrong digest, a cancel or timeout) leaves
 * nothing in the cache. Concurrent calls for one digest, in one process or several, download it
 * once.
 *
 * @param url An `http:` or `https:` URL.
 * @param options The digest, cache directory, progress, cancellation and time limit.
 * @returns The path of the verified file in the cache.
 * @throws {RangeError} For a malformed digest or URL, or a bad timeout.
 * @throws {TypeError} When no cache directory is given and neither `XDG_CACHE_HOME` nor `HOME`
 *   can be read.
 * @throws {ImageFetchError} When the server refuses, the download breaks off and cannot be
 *   resumed, or the digest does not match.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * const base = await image.fetch(
 *   "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
 *   { digest: "sha512:...", progress: true },
 * );
 * await image.create("vm.qcow2", { backing: base });
 * ```
 */
export async function fetchImage(url: string | URL, options: FetchImageOptions): Promise<string> {
  const href = String(url);
  const what = `Cannot fetch image "${href}"`;
  checkTimeout(`fetch image "${href}"`, options.timeout);
  let parsed: URL;
  try {
    parsed = new URL(href);
  } catch (error) {
    throw new RangeError(`${what}: it is not a URL`, { cause: error });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RangeError(`${what}: only http: and https: URLs are fetched`);
  }
  const match = /^(sha256|sha512):([0-9a-fA-F]+)$/.exec(String(options.digest));
  if (match === null || match[2].length !== DIGESTS[match[1]]) {
    throw new RangeError(
      `${what}: digest ${
        JSON.stringify(options.digest)
      } is not "sha256:" and 64 hex digits, or "sha512:" and 128`,
    );
  }
  const algorithm = match[1];
  const hex = match[2].toLowerCase();
  const digest = `${algorithm}:${hex}`;
  const dir = (options.cache ?? defaultCacheDir()).replace(/(.)\/+$/, "$1");
  const path = `${dir}/${algorithm}-${hex}`;
  if (await pathExists(path)) return path;

  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal!.reason);
  if (options.signal?.aborted) throw options.signal.reason;
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = options.timeout === undefined ? undefined : setTimeout(
    () => controller.abort(new ImageTimeoutError(`fetch image "${href}"`, options.timeout!)),
    options.timeout,
  );
  const signal = controller.signal;
  let part: PartFile | undefined;
  try {
    await Deno.mkdir(dir, { recursive: true });
    part = await lockPartFile(`${path}.part`, signal);
    if (await pathExists(path)) {
      // Another download finished while this one waited for the lock.
      await Deno.remove(part.path);
      return path;
    }
    const hash = await download(href, part, algorithm, { what, digest, signal, options });
    const actual = hash.digest("hex");
    if (actual !== hex) {
      throw new ImageFetchError(
        `${what}: its ${algorithm} is ${actual}, not ${hex} (the file is not the one expected)`,
        { url: href, digest, actualDigest: `${algorithm}:${actual}` },
      );
    }
    await part.file.syncData();
    await Deno.rename(part.path, path);
    part.file.close();
    part = undefined;
    return path;
  } catch (error) {
    if (part !== undefined) {
      await Deno.remove(part.path).catch(() => {});
      part.file.close();
    }
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

interface DownloadContext {
  what: string;
  digest: string;
  signal: AbortSignal;
  options: FetchImageOptions;
}

/** Fills the part file with the whole of `url` and returns the hash of all its bytes. */
async function download(
  url: string,
  part: PartFile,
  algorithm: string,
  context: DownloadContext,
): Promise<Hash> {
  const { what, digest, signal, options } = context;
  const fail = (message: string, extra: { status?: number; cause?: unknown } = {}) =>
    new ImageFetchError(`${what}: ${message}`, { url, digest, ...extra });
  // Bytes a killed process left are hashed first: the digest covers the whole file.
  let hash = createHash(algorithm);
  let offset = 0;
  const buffer = new Uint8Array(1 << 20);
  for (let n; (n = await part.file.read(buffer)) !== null;) {
    hash.update(buffer.subarray(0, n));
    offset += n;
  }
  const startOver = async () => {
    await part.file.truncate(0);
    await part.file.seek(0, Deno.SeekMode.Start);
    hash = createHash(algorithm);
    offset = 0;
  };
  const line = progressLine(url.slice(url.lastIndexOf("/") + 1) || url, options.progress);
  const mb = (n: number) => (n / 1e6).toFixed(1);
  let validator: string | undefined;
  let resumes = 0;
  try {
    while (true) {
      const headers = new Headers({ "accept-encoding": "identity" });
      if (offset > 0) {
        headers.set("range", `bytes=${offset}-`);
        if (validator !== undefined) headers.set("if-range", validator);
      }
      let response: Response;
      try {
        response = await fetch(url, { headers, signal });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw fail(`GET failed: ${(error as Error).message}`, { cause: error });
      }
      let total: number | undefined;
      if (response.status === 416 && offset > 0) {
        // What we have is not a prefix the server knows: start over.
        await response.body?.cancel();
        await startOver();
        continue;
      } else if (response.status === 206 && offset > 0) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
          response.headers.get("content-range") ?? "",
        );
        if (range === null || Number(range[1]) !== offset) {
          await response.body?.cancel();
          throw fail(
            `asked for bytes from ${offset}, the server sent range ${
              JSON.stringify(response.headers.get("content-range"))
            }`,
          );
        }
        if (range[3] !== "*") total = Number(range[3]);
      } else if (response.status === 200) {
        // The whole file, though bytes from `offset` were asked for: the server does not resume
        // this file, or it changed since (If-Range): start over from this body.
        if (offset > 0) await startOver();
        const length = response.headers.get("content-length");
        if (length !== null && /^\d+$/.test(length)) total = Number(length);
      } else {
        await response.body?.cancel();
        throw fail(`GET answered ${`${response.status} ${response.statusText}`.trim()}`, {
          status: response.status,
        });
      }
      const etag = response.headers.get("etag");
      validator = etag !== null && !etag.startsWith("W/")
        ? etag
        : response.headers.get("last-modified") ?? undefined;
      const resumable = response.status === 206 ||
        response.headers.get("accept-ranges")?.toLowerCase() === "bytes";

      let broke: unknown;
      try {
        for await (const chunk of response.body ?? new ReadableStream()) {
          if (total !== undefined && offset + chunk.length > total) {
            throw fail(`the server sent more than the ${total} bytes it announced`);
          }
          await writeAll(part.file, chunk);
          hash.update(chunk);
          offset += chunk.length;
          options.onProgress?.({ received: offset, ...(total === undefined ? {} : { total }) });
          line.update(
            total === undefined ? 0 : offset / total,
            `${mb(offset)}/${total === undefined ? "?" : mb(total)} MB`,
          );
        }
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof ImageFetchError) throw error;
        broke = error;
      }
      if (broke === undefined && (total === undefined || offset === total)) return hash;
      const of = total === undefined ? "" : ` of ${total}`;
      if (!resumable) {
        throw fail(
          `the download broke off after ${offset}${of} bytes, and the server does not take Range requests to resume it`,
          { cause: broke },
        );
      }
      if (++resumes > MAX_RESUMES) {
        throw fail(
          `the download broke off ${resumes} times; the last time after ${offset}${of} bytes`,
          { cause: broke },
        );
      }
    }
  } finally {
    line.done();
  }
}

function defaultCacheDir(): string {
  const base = envVar("XDG_CACHE_HOME") ||
    (envVar("HOME") ? `${envVar("HOME")}/.cache` : undefined);
  if (base === undefined) {
    throw new TypeError(
      "Cannot choose the image cache: neither XDG_CACHE_HOME nor HOME is readable (grant --allow-env=XDG_CACHE_HOME,HOME or pass { cache })",
    );
  }
  return `${base}/vmkit/images`;
}
