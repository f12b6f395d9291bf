/** Options of anything that waits. */
export interface WaitOptions {
  /** Cancels the wait; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds, with the typed timeout error of the caller. */
  timeout?: number;
}

/** Throws a `RangeError` naming `what` unless `timeout` is undefined or a number >= 0. */
export function checkTimeout(what: string, timeout: number | undefined): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || !(timeout >= 0) || timeout > 2 ** 31 - 1) {
    throw new RangeError(
      `Cannot ${what} with timeout ${String(timeout)}: use milliseconds from 0 to ${2 ** 31 - 1}`,
    );
  }
}

/**
 * Settles like `promise`, unless the signal aborts first (rejects with its reason) or the timeout
 * passes first (rejects with `onTimeout()`); in those two cases `cancel` runs, so the caller can
 * drop what it was waiting for.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  options: WaitOptions,
  onTimeout: () => Error,
  cancel?: () => void,
): Promise<T> {
  const { signal, timeout } = options;
  if (signal === undefined && timeout === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      finish();
      cancel?.();
      reject(signal!.reason);
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        finish();
        cancel?.();
        reject(onTimeout());
      }, timeout);
    }
    promise.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error) => {
        finish();
        reject(error);
      },
    );
  });
}

/**
 * Settles like `promise` if it does within `ms`, else resolves `undefined`; either way no timer
 * is left behind to keep the process alive.
 */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
