/**
 * Why a QMP connection is closed, as its owner knows it: a VM knows that its QEMU exited and
 * why, where the client sees only the socket's end.
 *
 * @module
 */

/** Per client: a function giving the reason once it is known, or `undefined`. */
export const CLOSE_REASONS: WeakMap<object, () => string | undefined> = new WeakMap();

/** The reason the owner gave for `client`'s close, as `" (reason)"`, or `""`. */
export function closeReasonOf(client: object): string {
  const reason = CLOSE_REASONS.get(client)?.();
  return reason === undefined ? "" : ` (${reason})`;
}
