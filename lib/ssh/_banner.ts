// Reading an SSH server's identification line ("SSH-2.0-OpenSSH_9.2p1 ..."), the only proof
// that sshd is there: QEMU's user network accepts a forwarded connection even when nothing
// listens in the guest, then closes it, so a TCP connect proves nothing.

import { sleep } from "../_sleep.ts";

/** What one attempt found: the banner, or why there was none. */
export type BannerAttempt = { banner: string } | { error: string };

/** The longest identification we read (RFC 4253 allows 255 bytes, and lines before it). */
const LIMIT = 8192;

/**
 * Connects to `host:port` and reads up to the server's `SSH-` line; closes the connection
 * either way. Never throws for a refused, reset or closed connection: it says so instead.
 */
export async function readBanner(
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<BannerAttempt> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  if (signal?.aborted) {
    conn.close();
    signal.throwIfAborted();
  }
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  const decoder = new TextDecoder();
  let text = "";
  try {
    const buffer = new Uint8Array(1024);
    while (text.length < LIMIT) {
      const n = await conn.read(buffer);
      if (n === null) {
        return { error: "the connection was closed before the server sent an SSH banner" };
      }
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      for (const line of text.split("\n").slice(0, -1)) {
        if (line.startsWith("SSH-")) return { banner: line.replace(/\r$/, "") };
      }
    }
    return { error: `the server sent ${LIMIT} bytes without an SSH banner` };
  } catch (error) {
    signal?.throwIfAborted();
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    try {
      conn.close();
    } catch {
      // Closed by the abort.
    }
  }
}

/** A promise that never settles: what a race's loser turns into when its round is over. */
const NEVER = new Promise<never>(() => {});

/** How long a connection may stay silent before another is opened beside it, at first. */
const SILENCE_FIRST = 1000;
/** The longest that wait grows to (it doubles each time). */
const SILENCE_LONGEST = 4000;
/** Silent connections kept open at once; opening one more closes the oldest. */
const SILENT_AT_ONCE = 3;

/**
 * Connects to `host:port` until a connection brings the server's `SSH-` line, and returns it.
 *
 * A connection closed before a banner means the path works but nothing listens yet: it is
 * tried again after a short pause (10 ms, growing to 100 ms). A connection that stays silent is
 * either an sshd still starting its child for it, or, through QEMU's user network, a
 * connection the guest never saw: QEMU accepts it at once, and when the guest's network is not
 * up yet, its SYN to the guest is lost and sent again only 6 s later, then 12 s after that
 * (measured: a wait started before the Debian guest's DHCP lease saw sshd 4-6 s late). So
 * until some connection has been closed, each silence of 1 s (doubling to 4 s) opens another
 * connection beside the silent ones, keeping at most three; the first banner wins. Once one was
 * closed, the path is known to work and a silent connection is waited for. (QEMU still sends
 * the guest the SYN of one closed on the host side: sshd gets it later, already closed.)
 *
 * @param options `signal` stops the wait (the promise rejects with its reason); `onError` is
 *   told why each connection failed, for a timeout's message.
 */
export async function waitForBanner(
  host: string,
  port: number,
  options: { signal: AbortSignal; onError: (error: string) => void },
): Promise<string> {
  const { signal, onError } = options;
  type Attempt = { stop: AbortController; result: Promise<BannerAttempt> };
  const open = new Set<Attempt>();
  const start = () => {
    const stop = new AbortController();
    const result = readBanner(host, port, AbortSignal.any([signal, stop.signal]));
    // Settled or not, a stopped attempt's outcome is not wanted.
    result.catch(() => {});
    open.add({ stop, result });
    if (open.size > SILENT_AT_ONCE) {
      const oldest = open.values().next().value!;
      open.delete(oldest);
      oldest.stop.abort();
    }
  };
  // Rejects when the wait is stopped, whatever the attempts are doing.
  const stopped = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  stopped.catch(() => {});
  let answered = false;
  let silence = SILENCE_FIRST;
  let pause = 10;
  try {
    start();
    while (true) {
      const quiet = new AbortController();
      const silent = answered
        ? []
        : [sleep(silence, quiet.signal).then(() => "silent" as const, () => NEVER)];
      let outcome: { attempt: Attempt; found: BannerAttempt } | "silent";
      try {
        outcome = await Promise.race([
          stopped,
          ...silent,
          ...[...open].map((attempt) => attempt.result.then((found) => ({ attempt, found }))),
        ]);
      } finally {
        quiet.abort();
      }
      if (outcome === "silent") {
        onError(
          `a connection got no answer in ${
            silence / 1000
          } s (through QEMU's user network: the guest's network may not be up yet)`,
        );
        silence = Math.min(silence * 2, SILENCE_LONGEST);
        start();
        continue;
      }
      if ("banner" in outcome.found) return outcome.found.banner;
      onError(outcome.found.error);
      answered = true;
      // The others were opened before anything answered: through QEMU's user network they wait
      // for a SYN the guest did not get, so they are dropped and the tries start afresh.
      for (const attempt of open) attempt.stop.abort();
      open.clear();
      await sleep(pause, signal);
      pause = Math.min(pause * 2, 100);
      start();
    }
  } finally {
    for (const attempt of open) attempt.stop.abort();
  }
}
