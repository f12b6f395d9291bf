/**
 * Live migration of a running VM to another QEMU: the destination waits with `-incoming defer`
 * (`builder.incoming()`), the source streams its RAM and devices over a unix socket.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { QmpTimeoutError } from "../qmp/errors.ts";
import { VmMigrationError } from "./errors.ts";

/** Options of `Vm.migrateTo`. */
export interface MigrateOptions extends WaitOptions {
  /** Longest pause of the guest to aim for at the switch-over, in ms. QEMU's default is 300. */
  maxDowntime?: number;
  /** Keep the source QEMU after success (it stays paused, `postmigrate`). Default false: quit it. */
  keepSource?: boolean;
}

/** How a migration went, from `query-migrate`. */
export interface MigrationStats {
  /** From start to end, in ms. */
  totalTimeMs: number;
  /** How long the guest was paused at the switch-over, in ms. */
  downtimeMs: number;
  /** Setting up, in ms. */
  setupTimeMs: number;
  /** Bytes sent. */
  transferredBytes: number;
  /** The guest's RAM, in bytes. */
  ramBytes: number;
  /** Passes over dirty memory. */
  dirtySyncCount: number;
  /** Throughput at the end, in megabits per second. */
  mbps: number;
}

/** Where to migrate: a URI, and the destination's QMP when vmkit runs it too. */
export interface MigrationTarget {
  uri: string;
  qmp?: QmpClient;
}

const FINAL = new Set(["completed", "failed", "cancelled"]);

async function waitUntil(
  qmp: QmpClient,
  done: (status: string) => boolean,
  timeout: number,
): Promise<string> {
  const deadline = performance.now() + timeout;
  for (;;) {
    const { status } = await qmp.execute("query-status", undefined, { timeout });
    if (done(status) || performance.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Migrates the VM behind `source` to `target` and waits for the end.
 *
 * @throws {TypeError} When the destination is not waiting for a migration.
 * @throws {VmMigrationError} When the migration fails, or is cancelled by timeout or signal;
 *   the source keeps running.
 * @throws {QmpError} When QEMU refuses to start it (a bad URI, say).
 */
export async function migrate(
  source: QmpClient,
  target: MigrationTarget,
  options: MigrateOptions = {},
): Promise<MigrationStats> {
  checkTimeout(`migrate to "${target.uri}"`, options.timeout);
  const { maxDowntime } = options;
  if (
    maxDowntime !== undefined &&
    (!Number.isInteger(maxDowntime) || maxDowntime < 1 || maxDowntime > 2_000_000)
  ) {
    throw new RangeError(
      `Cannot migrate with maxDowntime ${
        String(maxDowntime)
      }: use whole milliseconds from 1 to 2000000`,
    );
  }
  if (target.qmp !== undefined) {
    const { status } = await target.qmp.execute("query-status");
    if (status !== "inmigrate") {
      throw new TypeError(
        `Cannot migrate to a VM whose status is "${status}": build the destination with .incoming()`,
      );
    }
    await target.qmp.execute("migrate-incoming", { uri: target.uri });
  }
  await source.execute("migrate-set-capabilities", {
    capabilities: [{ capability: "events", state: true }],
  });
  if (maxDowntime !== undefined) {
    await source.execute("migrate-set-parameters", { "downtime-limit": maxDowntime });
  }
  const unsubscribe = new AbortController();
  const ended = source.waitForEvent("MIGRATION", {
    match: (event) => FINAL.has(event.data.status),
    signal: unsubscribe.signal,
  });
  ended.catch(() => {});
  let status: string;
  try {
    await source.execute("migrate", { uri: target.uri });
    try {
      status = (await withDeadline(
        ended,
        options,
        () => new QmpTimeoutError("migration to end", options.timeout!),
      )).data.status;
    } catch (error) {
      await source.execute("migrate_cancel", undefined, { timeout: 5000 }).catch(() => {});
      await withDeadline(ended, { timeout: 5000 }, () => error as Error).catch(() => {});
      throw new VmMigrationError(
        target.uri,
        "cancelled",
        `${error instanceof Error ? error.message : String(error)}; the migration was cancelled`,
        { cause: error },
      );
    }
  } finally {
    // A migration QEMU refused, or one that never ended, leaves no listener behind.
    unsubscribe.abort();
  }
  if (status === "completed") {
    // QEMU sends the event before it works out the totals and the downtime; it has when the
    // source's run state turns to postmigrate.
    await waitUntil(source, (s) => s === "postmigrate", 10_000);
  }
  const info = await source.execute("query-migrate");
  if (status !== "completed") {
    throw new VmMigrationError(
      target.uri,
      status,
      info["error-desc"] ?? `the migration ended as "${status}"`,
    );
  }
  if (target.qmp !== undefined) {
    await waitUntil(target.qmp, (s) => s !== "inmigrate" && s !== "finish-migrate", 10_000);
  }
  return {
    totalTimeMs: info["total-time"] ?? 0,
    downtimeMs: info.downtime ?? 0,
    setupTimeMs: info["setup-time"] ?? 0,
    transferredBytes: info.ram?.transferred ?? 0,
    ramBytes: info.ram?.total ?? 0,
    dirtySyncCount: info.ram?.["dirty-sync-count"] ?? 0,
    mbps: info.ram?.mbps ?? 0,
  };
}
