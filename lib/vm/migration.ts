/**
 * Live migration of a running VM to another QEMU: the destination waits with `-incoming defer`
 * (`builder.incoming()`), the source streams its RAM and devices over a unix socket.
 *
 * @module
 */

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import type { QueryMigrateReturn } from "../qmp/qapi.ts";
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

/** Polls QEMU's run state until `done` accepts it or `timeout` ms pass; returns the last one. */
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

/** Refuses a `maxDowntime` that is not whole milliseconds from 1 to 2000000. */
function checkMaxDowntime(maxDowntime: number | undefined): void {
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
}

/** Makes a destination vmkit runs listen on the URI; refuses one not waiting for a migration. */
async function startIncoming(target: MigrationTarget): Promise<void> {
  if (target.qmp === undefined) return;
  const { status } = await target.qmp.execute("query-status");
  if (status !== "inmigrate") {
    throw new TypeError(
      `Cannot migrate to a VM whose status is "${status}": build the destination with .incoming()`,
    );
  }
  await target.qmp.execute("migrate-incoming", { uri: target.uri });
}

/** Turns on the source's MIGRATION events, and sets its downtime limit when one is given. */
async function prepareSource(source: QmpClient, maxDowntime: number | undefined): Promise<void> {
  await source.execute("migrate-set-capabilities", {
    capabilities: [{ capability: "events", state: true }],
  });
  if (maxDowntime !== undefined) {
    await source.execute("migrate-set-parameters", { "downtime-limit": maxDowntime });
  }
}

/**
 * Starts the migration and waits for its final status. On timeout or signal it cancels the
 * migration and throws a `VmMigrationError`; the source keeps running.
 */
async function runMigration(
  source: QmpClient,
  uri: string,
  options: WaitOptions,
): Promise<string> {
  const unsubscribe = new AbortController();
  const ended = source.waitForEvent("MIGRATION", {
    match: (event) => FINAL.has(event.data.status),
    signal: unsubscribe.signal,
  });
  ended.catch(() => {});
  try {
    await source.execute("migrate", { uri });
    try {
      return (await withDeadline(
        ended,
        options,
        () => new QmpTimeoutError("migration to end", options.timeout!),
      )).data.status;
    } catch (error) {
      await source.execute("migrate_cancel", undefined, { timeout: 5000 }).catch(() => {});
      await withDeadline(ended, { timeout: 5000 }, () => error as Error).catch(() => {});
      throw new VmMigrationError(
        uri,
        "cancelled",
        `${error instanceof Error ? error.message : String(error)}; the migration was cancelled`,
        { cause: error },
      );
    }
  } finally {
    // A migration QEMU refused, or one that never ended, leaves no listener behind.
    unsubscribe.abort();
  }
}

/** The figures of a finished migration, from `query-migrate`. */
function migrationStats(info: QueryMigrateReturn): MigrationStats {
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
  checkMaxDowntime(options.maxDowntime);
  await startIncoming(target);
  await prepareSource(source, options.maxDowntime);
  const status = await runMigration(source, target.uri, options);
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
  return migrationStats(info);
}
