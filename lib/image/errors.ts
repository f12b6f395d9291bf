/**
 * Errors of the disk image functions that callers catch.
 *
 * @module
 */

import { shellQuote } from "../vm/qemu_opts.ts";

/**
 * `qemu-img` ran and failed. The message leads with what was being done and what qemu-img said
 * (`Cannot resize "x.qcow2": qemu-img: ...`), then the argv that was run.
 *
 * @example
 * ```ts
 * import { image, QemuImgError } from "@vmkit/vmkit";
 * try {
 *   await image.resize("disk.qcow2", "20G");
 * } catch (error) {
 *   if (error instanceof QemuImgError) console.log(error.stderr);
 * }
 * ```
 */
export class QemuImgError extends Error {
  /** Always `"QemuImgError"`. */
  override readonly name = "QemuImgError";
  /** The image the command was about. */
  readonly path: string;
  /** `qemu-img` and its arguments, as run. */
  readonly argv: readonly string[];
  /** Everything qemu-img wrote to stderr. */
  readonly stderr: string;
  /** Its exit code. */
  readonly exitCode: number;

  /**
   * Makes the error from what qemu-img printed.
   *
   * @param action What was being done, such as `Cannot resize "x.qcow2"`.
   * @param details The image, argv, stderr and exit code.
   */
  constructor(
    action: string,
    details: { path: string; argv: readonly string[]; stderr: string; exitCode: number },
  ) {
    // qemu-img's error is its last "qemu-img: " line and the hint lines after it; warnings
    // before it stay in the stderr part.
    const lines = details.stderr.split("\n").map((line) => line.trimEnd()).filter((line) =>
      line !== ""
    );
    const at = lines.findLastIndex((line) => line.startsWith("qemu-img: "));
    const said = at < 0
      ? lines.join(" ") || `qemu-img exited with code ${details.exitCode}`
      : lines.slice(at).join(" ");
    super(
      `${action}: ${said}\nargv: ${details.argv.map(shellQuote).join(" ")}${
        at > 0 ? `\nstderr:\n${lines.join("\n")}` : ""
      }`,
    );
    this.path = details.path;
    this.argv = details.argv;
    this.stderr = details.stderr;
    this.exitCode = details.exitCode;
  }
}

/** An image operation or download ran out of time (`timeout`); a cancel (`signal`) is not this. */
export class ImageTimeoutError extends Error {
  /** Always `"ImageTimeoutError"`. */
  override readonly name = "ImageTimeoutError";
  /** What was being done, such as `convert "a.raw"`. */
  readonly action: string;
  /** The time limit in milliseconds. */
  readonly timeout: number;

  /**
   * Makes the error for an operation that ran out of time.
   *
   * @param action What was being done, such as `convert "a.raw"`.
   * @param timeout The limit in milliseconds.
   */
  constructor(action: string, timeout: number) {
    super(`Cannot ${action}: timed out after ${Math.round(timeout)} ms`);
    this.action = action;
    this.timeout = timeout;
  }
}

/**
 * A download by `image.fetch` failed: the server refused it, the connection broke off
 * and could not be resumed, or the bytes did not have the expected digest. Nothing was left in
 * the cache.
 *
 * @example
 * ```ts
 * import { image, ImageFetchError } from "@vmkit/vmkit";
 * try {
 *   await image.fetch("https://example.com/disk.qcow2", { digest: "sha256:..." });
 * } catch (error) {
 *   if (error instanceof ImageFetchError && error.actualDigest) console.log("wrong file");
 * }
 * ```
 */
export class ImageFetchError extends Error {
  /** Always `"ImageFetchError"`. */
  override readonly name = "ImageFetchError";
  /** The URL asked for. */
  readonly url: string;
  /** The digest expected, `sha256:<hex>` or `sha512:<hex>`. */
  readonly digest: string;
  /** The HTTP status, when the server answered with an error. */
  readonly status?: number;
  /** The digest of what was downloaded, when it did not match. */
  readonly actualDigest?: string;

  /**
   * Makes the error for a failed download.
   *
   * @param message What went wrong.
   * @param details The URL, the expected digest, the HTTP status or actual digest, the cause.
   */
  constructor(
    message: string,
    details: {
      url: string;
      digest: string;
      status?: number;
      actualDigest?: string;
      cause?: unknown;
    },
  ) {
    super(message, { cause: details.cause });
    this.url = details.url;
    this.digest = details.digest;
    if (details.status !== undefined) this.status = details.status;
    if (details.actualDigest !== undefined) this.actualDigest = details.actualDigest;
  }
}
