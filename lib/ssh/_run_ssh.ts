// Running the system ssh client: argv as an array (no local shell), stdin written from memory,
// stdout and stderr read whole; on a cancel or timeout the client is killed (SIGTERM, then
// SIGKILL after a second) and awaited before the call rejects, so no ssh process is left.

import { spawnProgram } from "../_command.ts";
import { type KillLimit, killOnLimit } from "../_kill_on_limit.ts";

// The ssh client and its ControlMaster watch their children with these.
export { killOnLimit };
/** The time limit and cancel signal of one run. */
export type RunLimit = KillLimit;

/** What one run printed and how it exited. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `ssh`, naming Debian's openssh-client when it is missing. */
export function spawnSsh(
  args: readonly string[],
  io: Pick<Deno.CommandOptions, "stdin" | "stdout" | "stderr">,
): Deno.ChildProcess {
  return spawnProgram("ssh", {
    args: [...args],
    ...io,
    missing: "Cannot run ssh: the ssh client is not installed; install Debian's openssh-client",
  });
}

/** Reads a stream whole as UTF-8 text, until it ends or `cancel` is called. */
function readAll(
  stream: ReadableStream<Uint8Array>,
): { text: Promise<string>; cancel: () => void } {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const text = (async () => {
    let out = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value, { stream: true });
      }
    } catch {
      // Cancelled: the text so far is what there is.
    }
    return out + decoder.decode();
  })();
  return { text, cancel: () => void reader.cancel().catch(() => {}) };
}

/**
 * Runs ssh with `args`, writing `stdin` (nothing: /dev/null) and reading stdout and stderr.
 * Rejects with the timeout error or the abort reason after killing it; `track` gets the child
 * so its owner can kill it on close.
 */
export async function runSsh(
  args: readonly string[],
  stdin: string | Uint8Array | undefined,
  limit: RunLimit,
  track: { add(child: Deno.ChildProcess): void; delete(child: Deno.ChildProcess): void },
): Promise<RunOutput> {
  limit.signal?.throwIfAborted();
  const child = spawnSsh(args, {
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  track.add(child);
  const watch = killOnLimit(child, limit);
  const stdout = readAll(child.stdout);
  const stderr = readAll(child.stderr);
  const writing = stdin === undefined ? Promise.resolve() : write(child.stdin, stdin);
  try {
    const status = await child.status;
    // Through a ControlMaster, the master holds copies of the pipes until it closes the
    // session: once the client is gone, what has been read (or comes soon) is all there is.
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([stdout.text, stderr.text]),
      new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, watch.stopped() === undefined ? 2000 : 100);
      }),
    ]);
    clearTimeout(graceTimer);
    stdout.cancel();
    stderr.cancel();
    await writing;
    const why = watch.stopped();
    if (why !== undefined) throw why;
    return { code: status.code, stdout: await stdout.text, stderr: await stderr.text };
  } finally {
    watch.done();
    track.delete(child);
  }
}

/** Writes all of `data` to ssh's stdin and closes it; a remote side that stopped reading is fine. */
async function write(stream: WritableStream<Uint8Array>, data: string | Uint8Array): Promise<void> {
  const writer = stream.getWriter();
  try {
    await writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
    await writer.close();
  } catch (error) {
    // The remote command exited without reading all of it (ssh closed its stdin): as with a
    // local pipe, that is the command's business, not a failure of the run.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}
