/**
 * Attaching a terminal to a running instance's serial console, as `virsh console` and `telnet`
 * do: keys go to the guest, its output comes back, and `Ctrl-]` detaches, leaving the VM running.
 *
 * @module
 */

/** The byte `Ctrl-]` sends: the escape that detaches. */
export const CONSOLE_ESCAPE = 0x1d;

/** Options of {@linkcode attachConsole}. */
export interface AttachConsoleOptions {
  /** Where keys come from. Default `Deno.stdin`. */
  input?: ReadableStream<Uint8Array>;
  /** Where the guest's output goes. Default `Deno.stdout`. */
  output?: WritableStream<Uint8Array>;
  /**
   * Whether the input is a terminal the user types on: then it is put in raw mode (keys such as
   * Ctrl-C go to the guest), `Escape character is '^]'.` is printed on stderr, and `Ctrl-]`
   * detaches. Default: whether `Deno.stdin` is a terminal (when `input` is not given).
   */
  terminal?: boolean;
  /**
   * When the input ends without the escape (a pipe), how long to keep printing the guest's
   * output after it last came. Default 500 ms.
   */
  drainMs?: number;
  /** Detaches. */
  signal?: AbortSignal;
}

/** How an attached console session ended. */
export type ConsoleDetach =
  /** The user typed the escape. */
  | "escape"
  /** The input ended (and the output went quiet). */
  | "input-ended"
  /** QEMU closed the console (it exited). */
  | "closed"
  /** The signal aborted. */
  | "aborted";

const encoder = new TextEncoder();

/**
 * Attaches to a console socket QEMU serves (an instance's `console.sock`) until the escape, the
 * end of the input, QEMU closing the socket, or the signal. On a terminal, raw mode is restored
 * however the session ends.
 *
 * @param socket The console socket's path.
 * @param options Input, output, terminal mode, drain time, signal.
 * @returns How the session ended.
 * @throws {Deno.errors.NotFound} When no socket is at `socket`.
 * @throws {Deno.errors.ConnectionRefused} When nothing serves it (QEMU is gone).
 *
 * @example
 * ```ts
 * import { attachConsole, openInstance } from "@vmkit/vmkit";
 * const web = await openInstance("web");
 * await attachConsole(web.files.consoleSocket); // Ctrl-] to detach
 * ```
 */
export async function attachConsole(
  socket: string,
  options: AttachConsoleOptions = {},
): Promise<ConsoleDetach> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const terminal = options.terminal ??
    (options.input === undefined && Deno.stdin.isTerminal());
  const input = options.input ?? Deno.stdin.readable;
  const output = options.output ?? Deno.stdout.writable;
  const drainMs = options.drainMs ?? 500;
  const raw = terminal && options.input === undefined;
  if (raw) Deno.stdin.setRaw(true);
  if (terminal) Deno.stderr.writeSync(encoder.encode("Escape character is '^]'.\r\n"));
  const reader = input.getReader();
  const writer = output.getWriter();
  let ended: ConsoleDetach | undefined;
  let lastOutput = performance.now();
  let inputDone = false;
  const finished = Promise.withResolvers<ConsoleDetach>();
  const finish = (how: ConsoleDetach) => {
    ended ??= how;
    finished.resolve(ended);
  };
  const onAbort = () => finish("aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) finish("aborted");

  // Guest → output.
  const fromGuest = (async () => {
    const buffer = new Uint8Array(16 * 1024);
    while (ended === undefined) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) return finish("closed");
      lastOutput = performance.now();
      await writer.write(buffer.slice(0, n));
    }
  })();

  // Input → guest, watching for the escape on a terminal.
  const toGuest = (async () => {
    while (ended === undefined) {
      const { value, done } = await reader.read();
      if (done) break;
      let chunk = value;
      const at = terminal ? chunk.indexOf(CONSOLE_ESCAPE) : -1;
      if (at >= 0) chunk = chunk.subarray(0, at);
      if (chunk.length > 0) await writeAll(conn, chunk);
      if (at >= 0) return finish("escape");
    }
    inputDone = true;
    // A pipe ended: print what the guest still answers, until it goes quiet.
    while (ended === undefined) {
      const quietFor = performance.now() - lastOutput;
      if (quietFor >= drainMs) return finish("input-ended");
      await new Promise((resolve) => setTimeout(resolve, drainMs - quietFor));
    }
  })();
  fromGuest.catch(() => finish("closed"));
  toGuest.catch(() => finish("closed"));

  const how = await finished.promise;
  options.signal?.removeEventListener("abort", onAbort);
  try {
    conn.close();
  } catch {
    // Closed already.
  }
  if (!inputDone) await reader.cancel().catch(() => {});
  reader.releaseLock();
  await fromGuest.catch(() => {});
  writer.releaseLock();
  if (raw) Deno.stdin.setRaw(false);
  if (terminal) Deno.stderr.writeSync(encoder.encode("\r\n"));
  return how;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
