// Why QEMU stops, from its SHUTDOWN events: QEMU exits with code 0 whether the guest powered
// off, reset under -no-reboot (a kernel panic with panic=-1, a triple fault) or was quit, and
// only the event's reason tells them apart.

import type { QmpClient } from "../qmp/client.ts";
import { settledWithin } from "../_deadline.ts";

/** The reason of the SHUTDOWN that stopped the guest, read as QEMU sends it. */
export interface ShutdownReason {
  /** `"guest-shutdown"`, `"guest-reset"`, `"host-qmp-quit"`...; `undefined` before any. */
  readonly reason: string | undefined;
  /** Ends with the QMP connection, once every event has been read (after QEMU's exit). */
  readonly read: Promise<void>;
  /**
   * Once QEMU has exited: the reason after its last events are read (they are once the QMP
   * connection ends), waiting at most 1 s for that.
   */
  final(): Promise<string | undefined>;
}

/**
 * Follows QEMU's SHUTDOWN events from now on. The first one says what stopped the guest (a later
 * quit of a QEMU kept up by -no-shutdown only ends the process); a RESET starts the guest again,
 * and forgets it.
 *
 * @param qmp The VM's QMP client.
 * @returns The reason so far, and when all of them have been read.
 */
export function followShutdownReason(qmp: QmpClient): ShutdownReason {
  let reason: string | undefined;
  const events = qmp.events({ names: ["SHUTDOWN", "RESET"], keepAlive: false });
  const read = (async () => {
    for await (const event of events) {
      if (event.event === "RESET") {
        reason = undefined;
        continue;
      }
      const given = (event.data as { reason?: unknown } | undefined)?.reason;
      if (typeof given === "string") reason ??= given;
    }
  })().catch(() => {});
  return {
    get reason() {
      return reason;
    },
    read,
    async final() {
      await settledWithin(read, 1000);
      return reason;
    },
  };
}
