/**
 * Files in the guest through the agent: whole files, and streamed copies in chunks (the agent
 * reads at most 48 MiB per call), so memory holds one chunk at a time.
 *
 * @module
 */

import { checkTimeout, type WaitOptions } from "../_deadline.ts";
import { decodeBase64, encodeBase64 } from "../_base64.ts";
import { concatBytes } from "../_bytes.ts";
import type { GuestAgent } from "./client.ts";
import { GuestAgentError, GuestAgentTimeoutError } from "./errors.ts";

/** Options of the file operations. */
export interface AgentFileOptions extends WaitOptions {
  /**
   * Bytes moved per agent command. Default 1 MiB; at most 32 MiB (the agent's reads stop at
   * 48 MiB, and base64 makes each a third larger). Linux refuses reads of 4 MiB and more from
   * `/proc/sys` files with ENOMEM.
   */
  chunkSize?: number;
}

/** Options of {@linkcode GuestAgent.writeFile} and {@linkcode GuestAgent.copyIn}. */
export interface AgentWriteOptions extends AgentFileOptions {
  /**
   * The file's permission bits, such as `0o755`. Default for `writeFile`: unchanged for an
   * existing file, and for a new one what the agent gives (0666 less its umask; qemu-ga's umask
   * is often 0, making the file world-writable: pass `mode` for anything that matters); for
   * `copyIn`: the host file's.
   */
  mode?: number;
  /** Add to the end of an existing file instead of replacing it. Default false. */
  append?: boolean;
}

const DEFAULT_CHUNK = 1024 * 1024;
const MAX_CHUNK = 32 * 1024 * 1024;

function checkGuestPath(action: string, path: unknown): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new TypeError(
      `Cannot ${action} ${JSON.stringify(path)}: give an absolute path in the guest, without NUL`,
    );
  }
  return path;
}

function chunkSize(action: string, options: AgentFileOptions): number {
  const size = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK) {
    throw new RangeError(
      `Cannot ${action} with chunkSize ${String(size)}: use 1 to ${MAX_CHUNK} bytes`,
    );
  }
  return size;
}

function checkMode(action: string, mode: unknown): number | undefined {
  if (mode === undefined) return undefined;
  if (!Number.isInteger(mode) || (mode as number) < 0 || (mode as number) > 0o7777) {
    throw new RangeError(
      `Cannot ${action} with mode ${
        String(mode)
      }: use permission bits from 0 to 0o7777, such as 0o644`,
    );
  }
  return mode as number;
}

/** Time left of a deadline, for the next command. */
function leftOf(options: WaitOptions): () => WaitOptions {
  checkTimeout("move a file through the guest agent", options.timeout);
  const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout;
  return () => ({
    signal: options.signal,
    timeout: deadline === undefined ? undefined : Math.max(0, deadline - performance.now()),
  });
}

/**
 * Runs a whole file operation under its caller's time limit: a command that ran out of the time
 * left is reported as the operation running past the limit the caller gave.
 */
async function withinLimit<T>(
  what: string,
  options: WaitOptions,
  work: (left: () => WaitOptions) => Promise<T>,
): Promise<T> {
  const left = leftOf(options);
  try {
    return await work(left);
  } catch (error) {
    if (error instanceof GuestAgentTimeoutError && options.timeout !== undefined) {
      throw new GuestAgentTimeoutError(what, options.timeout, "it was cut short", {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * An open guest file, closed after `use` whatever happens; a file written to is flushed first,
 * so a write the guest's filesystem refuses (no space left) is an error, not a short file. A
 * failure names the file as the host's `Deno.errors` do.
 */
async function withGuestFile<T>(
  agent: GuestAgent,
  action: string,
  file: { path: string; shown: string },
  mode: string,
  left: () => WaitOptions,
  use: (handle: number) => Promise<T>,
): Promise<T> {
  const { path, shown } = file;
  let handle: number;
  try {
    handle = await agent.execute("guest-file-open", { path, mode }, left());
  } catch (error) {
    throw fileError(action, shown, error);
  }
  let result: T;
  try {
    result = await use(handle);
    // qemu-ga writes through stdio: its buffer meets the filesystem at the flush.
    if (mode !== "r") await agent.execute("guest-file-flush", { handle }, left());
  } catch (error) {
    await agent.execute("guest-file-close", { handle }, { timeout: 5000 }).catch(() => {});
    throw fileError(action, shown, error);
  }
  try {
    await agent.execute("guest-file-close", { handle }, left());
  } catch (error) {
    throw fileError(action, shown, error);
  }
  return result;
}

function fileError(action: string, path: string, error: unknown): unknown {
  if (!(error instanceof GuestAgentError)) return error;
  const message = `Cannot ${action} ${JSON.stringify(path)} in the guest`;
  if (/No such file or directory/i.test(error.desc)) {
    return new Deno.errors.NotFound(`${message}: it does not exist`, { cause: error });
  }
  if (/Permission denied/i.test(error.desc)) {
    return new Deno.errors.PermissionDenied(
      `${message}: permission denied (the agent runs as root; is the filesystem read-only?)`,
      { cause: error },
    );
  }
  if (/Is a directory/i.test(error.desc)) {
    return new Deno.errors.IsADirectory(`${message}: it is a directory`, { cause: error });
  }
  if (/Read-only file system/i.test(error.desc)) {
    return new Deno.errors.PermissionDenied(`${message}: its filesystem is read-only`, {
      cause: error,
    });
  }
  if (/No space left on device/i.test(error.desc)) {
    return new Error(`${message}: no space left on its filesystem`, { cause: error });
  }
  return new Error(`${message}: ${error.desc}`, { cause: error });
}

/** Reads a guest file chunk by chunk, handing each to `sink`. */
async function readChunks(
  agent: GuestAgent,
  path: string,
  options: AgentFileOptions,
  sink: (chunk: Uint8Array) => Promise<void> | void,
): Promise<number> {
  const action = "read guest file";
  const count = chunkSize(action, options);
  checkGuestPath(action, path);
  return await withinLimit(
    `guest file ${JSON.stringify(path)} to be read`,
    options,
    (left) =>
      withGuestFile(agent, action, { path, shown: path }, "r", left, async (h) => {
        let total = 0;
        while (true) {
          const read = await agent.execute("guest-file-read", { handle: h, count }, left());
          if (read.count > 0) {
            await sink(decodeBase64(read["buf-b64"]));
            total += read.count;
          }
          if (read.eof || read.count === 0) return total;
        }
      }),
  );
}

/**
 * Writes chunks from `source` to a guest file, then sets its mode. `shown` is the path errors
 * name (the file a copy is written beside is named after the file it becomes).
 */
async function writeChunks(
  agent: GuestAgent,
  path: string,
  options: AgentWriteOptions,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  shown = path,
): Promise<number> {
  const action = "write guest file";
  checkGuestPath(action, path);
  const mode = checkMode(action, options.mode);
  return await withinLimit(
    `guest file ${JSON.stringify(shown)} to be written`,
    options,
    (left) => writeWithin(agent, action, { path, shown }, mode, options, source, left),
  );
}

async function writeWithin(
  agent: GuestAgent,
  action: string,
  file: { path: string; shown: string },
  mode: number | undefined,
  options: AgentWriteOptions,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  left: () => WaitOptions,
): Promise<number> {
  const { path, shown } = file;
  const total = await withGuestFile(
    agent,
    action,
    file,
    options.append ? "a" : "w",
    left,
    async (h) => {
      let total = 0;
      for await (const chunk of source) {
        let at = 0;
        while (at < chunk.length) {
          const part = chunk.subarray(at);
          const wrote = await agent.execute(
            "guest-file-write",
            { handle: h, "buf-b64": encodeBase64(part) },
            left(),
          );
          if (wrote.count <= 0) {
            throw new Error(
              `Cannot write guest file ${JSON.stringify(shown)}: the agent wrote nothing`,
            );
          }
          at += wrote.count;
        }
        total += chunk.length;
      }
      return total;
    },
  );
  if (mode !== undefined) {
    const result = await agent.exec(["chmod", mode.toString(8).padStart(4, "0"), path], left());
    if (result.exitCode !== 0) {
      throw new Error(
        `Cannot set the mode of guest file ${
          JSON.stringify(shown)
        }: chmod failed: ${result.stderr.trim()}`,
      );
    }
  }
  return total;
}

/** Splits bytes into chunks of `size`. */
function* chunksOf(bytes: Uint8Array, size: number): Iterable<Uint8Array> {
  if (bytes.length === 0) yield bytes;
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/**
 * Reads a whole guest file (`GuestAgent.readFile`).
 *
 * @param agent The agent.
 * @param path Absolute path in the guest.
 * @param options Chunk size, time limit, signal.
 * @returns Its bytes.
 */
export async function readGuestFile(
  agent: GuestAgent,
  path: string,
  options: AgentFileOptions = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const total = await readChunks(agent, path, options, (chunk) => {
    parts.push(chunk);
  });
  return concatBytes(parts, total);
}

/**
 * Writes a whole guest file (`GuestAgent.writeFile`).
 *
 * @param agent The agent.
 * @param path Absolute path in the guest.
 * @param data Text (written as UTF-8) or bytes.
 * @param options Mode, append, chunk size, time limit, signal.
 */
export async function writeGuestFile(
  agent: GuestAgent,
  path: string,
  data: string | Uint8Array,
  options: AgentWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot write guest file ${JSON.stringify(path)}: give text or bytes`);
  }
  const size = chunkSize("write guest file", options);
  await writeChunks(agent, path, options, chunksOf(bytes, size));
}

/**
 * Copies a host file into the guest, a chunk at a time (`GuestAgent.copyIn`).
 *
 * @param agent The agent.
 * @param hostPath The host file.
 * @param guestPath Absolute path in the guest.
 * @param options Mode (default the host file's), chunk size, time limit, signal.
 * @returns Bytes copied.
 */
export async function copyIntoGuest(
  agent: GuestAgent,
  hostPath: string,
  guestPath: string,
  options: AgentWriteOptions = {},
): Promise<number> {
  const size = chunkSize("copy into the guest", options);
  checkGuestPath("write guest file", guestPath);
  using file = await Deno.open(hostPath, { read: true }).catch((error) => {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot copy ${JSON.stringify(hostPath)} into the guest: it does not exist on the host`,
        { cause: error },
      );
    }
    throw error;
  });
  const info = await file.stat();
  if (!info.isFile) {
    throw new TypeError(
      `Cannot copy ${JSON.stringify(hostPath)} into the guest: it is not a regular file`,
    );
  }
  const mode = options.mode ?? (info.mode === null ? undefined : info.mode & 0o7777);
  async function* chunks(): AsyncIterable<Uint8Array> {
    const buffer = new Uint8Array(size);
    let sent = false;
    while (true) {
      let filled = 0;
      while (filled < size) {
        const n = await file.read(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      if (filled === 0) {
        if (!sent) yield buffer.subarray(0, 0);
        return;
      }
      sent = true;
      yield buffer.subarray(0, filled);
      if (filled < size) return;
    }
  }
  if (options.append) return await writeChunks(agent, guestPath, { ...options, mode }, chunks());
  // Written beside and moved into place, so the guest sees the whole file or none of it.
  const part = `${guestPath}.vmkit-part`;
  const started = performance.now();
  try {
    const total = await writeChunks(agent, part, { ...options, mode }, chunks(), guestPath);
    const left = options.timeout === undefined
      ? undefined
      : Math.max(0, options.timeout - (performance.now() - started));
    const moved = await agent.exec(["mv", "-f", part, guestPath], {
      timeout: left,
      signal: options.signal,
    });
    if (moved.exitCode !== 0) {
      throw new Error(
        `Cannot copy ${JSON.stringify(hostPath)} to guest file ${
          JSON.stringify(guestPath)
        }: mv failed: ${moved.stderr.trim()}`,
      );
    }
    return total;
  } catch (error) {
    await agent.exec(["rm", "-f", part], { timeout: 5000 }).catch(() => {});
    throw error;
  }
}

/**
 * Copies a guest file to the host, a chunk at a time (`GuestAgent.copyOut`). The host file
 * appears whole or not at all: it is written beside and renamed into place.
 *
 * @param agent The agent.
 * @param guestPath Absolute path in the guest.
 * @param hostPath The host file to write (replaced if it exists).
 * @param options Chunk size, time limit, signal.
 * @returns Bytes copied.
 */
export async function copyFromGuest(
  agent: GuestAgent,
  guestPath: string,
  hostPath: string,
  options: AgentFileOptions = {},
): Promise<number> {
  checkGuestPath("read guest file", guestPath);
  await checkHostTarget(guestPath, hostPath);
  const part = `${hostPath}.vmkit-part`;
  const file = await Deno.open(part, { write: true, create: true, truncate: true });
  try {
    const total = await readChunks(agent, guestPath, options, async (chunk) => {
      let at = 0;
      while (at < chunk.length) at += await file.write(chunk.subarray(at));
    });
    file.close();
    await Deno.rename(part, hostPath);
    return total;
  } catch (error) {
    try {
      file.close();
    } catch {
      // Closed above.
    }
    await Deno.remove(part).catch(() => {});
    throw error;
  }
}

/** The host file a copy out writes: not a directory, in a directory that exists. */
async function checkHostTarget(guestPath: string, hostPath: string): Promise<void> {
  const action = `Cannot copy guest file ${JSON.stringify(guestPath)} to ${
    JSON.stringify(hostPath)
  }`;
  const info = await Deno.stat(hostPath).catch(() => undefined);
  if (info?.isDirectory) {
    throw new Deno.errors.IsADirectory(`${action}: it is a directory; name the file to write`);
  }
  const slash = hostPath.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : hostPath.slice(0, slash);
  const parent = await Deno.stat(dir).catch(() => undefined);
  if (parent === undefined || !parent.isDirectory) {
    throw new Deno.errors.NotFound(
      `${action}: its directory ${JSON.stringify(dir)} does not exist`,
    );
  }
}
