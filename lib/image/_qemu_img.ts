// Running qemu-img: argv as an array (no shell), stdout read as it comes (for -p progress),
// stderr kept for the error, the child killed and awaited on a cancel or timeout.

import { spawnProgram } from "../_command.ts";
import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { killOnLimit } from "../_kill_on_limit.ts";
import { ImageTimeoutError, QemuImgError } from "./errors.ts";

/** What a qemu-img run is about, for its messages. */
export interface QemuImgTask {
  /** Leads every message: `Cannot resize "x.qcow2"`. */
  what: string;
  /** The image. */
  path: string;
}

/** One operation's cancel signal and time limit, shared by the qemu-img runs it makes. */
export interface Deadline {
  /** For the timeout error: `resize "x.qcow2"`. */
  action: string;
  signal?: AbortSignal;
  /** The limit the caller gave, in milliseconds. */
  timeout?: number;
  /** When it passes (`performance.now()` time). */
  end?: number;
}

/** Starts the deadline of an operation; throws a `RangeError` for a bad `timeout`. */
export function deadline(action: string, options: WaitOptions): Deadline {
  checkTimeout(action, options.timeout);
  return {
    action,
    signal: options.signal,
    timeout: options.timeout,
    end: options.timeout === undefined ? undefined : performance.now() + options.timeout,
  };
}

/** Options of {@linkcode runQemuImg}. */
export interface RunQemuImgOptions {
  /** Called with each piece of stdout as it arrives. */
  onStdout?: (text: string) => void;
  /** Exit codes that are not failures (besides 0). */
  okCodes?: readonly number[];
}

/** What a qemu-img run printed, and how it exited. */
export interface QemuImgOutput {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * A path qemu-img opens as a file of that name: one with a `:` before any `/` (`a:b.img`,
 * `nbd:...`, `json:{...}`) would be read as a protocol, so it gets a leading `./`.
 */
export function fileName(path: string): string {
  return /^[^/]*:/.test(path) ? `./${path}` : path;
}

/**
 * `--image-opts` for a file of `format`: for the commands that take no `-f` (`snapshot`), so
 * qemu-img neither probes the format nor reads the name as a protocol.
 */
export function imageOpts(format: string, path: string): string {
  return `driver=${format},file.driver=file,file.filename=${path.replaceAll(",", ",,")}`;
}

/** Throws `Deno.errors.NotFound` naming the file unless `path` exists. */
export async function requireFile(what: string, path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${what}: the file does not exist`, { cause: error });
    }
    throw error;
  }
}

/**
 * Runs `qemu-img` with `args`. Resolves when it exits with 0 or an `okCodes` code; otherwise
 * rejects with {@linkcode QemuImgError}. A cancel or timeout kills it (SIGTERM, then SIGKILL
 * after a second) and waits for it before rejecting; so does an `onStdout` that throws, and the
 * run rejects with what it threw.
 */
export async function runQemuImg(
  task: QemuImgTask,
  args: readonly string[],
  limit: Deadline,
  options: RunQemuImgOptions = {},
): Promise<QemuImgOutput> {
  limit.signal?.throwIfAborted();
  const argv = ["qemu-img", ...args];
  const child = spawnProgram("qemu-img", {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    missing: `${task.what}: qemu-img is not installed; install it with: apt-get install qemu-utils`,
  });
  // A throwing onStdout stops qemu-img as a cancel does, so it never runs on unwatched.
  const stop = new AbortController();
  const watch = killOnLimit(child, {
    signal: limit.signal === undefined ? stop.signal : AbortSignal.any([limit.signal, stop.signal]),
    end: limit.end,
    onTimeout: () => new ImageTimeoutError(limit.action, limit.timeout!),
  });
  const onStdout = options.onStdout;
  const each = onStdout === undefined ? undefined : (text: string) => {
    if (stop.signal.aborted) return;
    try {
      onStdout(text);
    } catch (error) {
      stop.abort(error);
    }
  };

  const read = async (stream: ReadableStream<Uint8Array>, each?: (text: string) => void) => {
    let text = "";
    for await (const piece of stream.pipeThrough(new TextDecoderStream())) {
      text += piece;
      each?.(piece);
    }
    return text;
  };
  try {
    const [stdout, stderr, status] = await Promise.all([
      read(child.stdout, each),
      read(child.stderr),
      child.status,
    ]);
    const stopped = watch.stopped();
    if (stopped !== undefined) throw stopped;
    if (status.code !== 0 && !(options.okCodes ?? []).includes(status.code)) {
      throw new QemuImgError(task.what, {
        path: task.path,
        argv,
        stderr,
        exitCode: status.code,
      });
    }
    return { stdout, stderr, code: status.code };
  } finally {
    watch.done();
  }
}
