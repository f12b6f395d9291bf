// Reading an SSH server's identification line ("SSH-2.0-OpenSSH_9.2p1 ..."), the only proof
// that sshd is there: QEMU's user network accepts a forwarded connection even when nothing
// listens in the guest, then closes it, so a TCP connect proves nothing.

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
