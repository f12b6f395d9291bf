// Stopping a child process vmkit runs (ssh, qemu-img) when its caller cancels or its time runs
// out: SIGTERM, then SIGKILL a second later if it is still there, remembering why, so the run
// can await the child and then reject with that reason.

/** The cancel signal and time limit of one child's run. */
export interface KillLimit {
  /** Kills the child when it aborts, with its reason as the run's error. */
  signal?: AbortSignal;
  /** When it passes (`performance.now()` time); no limit when undefined. */
  end?: number;
  /** The error to reject with when `end` passes. */
  onTimeout: () => Error;
}

/** The watch {@linkcode killOnLimit} keeps on a child. */
export interface KillWatch {
  /** Why the child was killed: the abort reason or the timeout error; undefined if it was not. */
  stopped(): unknown;
  /** Stops watching: call it once the child has exited. */
  done(): void;
}

/** How long a child has to exit after SIGTERM before it gets SIGKILL. */
const KILL_AFTER_MS = 1000;

/**
 * Kills `child` when the signal aborts (at once if it already has) or the time passes: SIGTERM,
 * then SIGKILL a second later.
 *
 * @param child The running child.
 * @param limit Its cancel signal, end time and timeout error.
 * @returns The watch: why it was killed, and `done()` to call once it has exited.
 */
export function killOnLimit(child: Deno.ChildProcess, limit: KillLimit): KillWatch {
  let reason: unknown;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = (why: unknown) => {
    if (reason !== undefined) return;
    reason = why;
    try {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // It exited meanwhile.
        }
      }, KILL_AFTER_MS);
    } catch {
      // It exited meanwhile.
    }
  };
  const onAbort = () => stop(limit.signal!.reason);
  if (limit.signal?.aborted) onAbort();
  else limit.signal?.addEventListener("abort", onAbort, { once: true });
  const left = limit.end === undefined ? undefined : Math.max(0, limit.end - performance.now());
  const timer = left === undefined ? undefined : setTimeout(() => stop(limit.onTimeout()), left);
  return {
    stopped: () => reason,
    done: () => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      limit.signal?.removeEventListener("abort", onAbort);
    },
  };
}
