// Runs a QEMU job (snapshot-save, snapshot-load, snapshot-delete, blockdev-create) to its end:
// subscribe to its status changes first, start it, wait for "concluded", read its error, dismiss
// it. A timeout or abort cancels the job where QEMU allows, and always dismisses it.

import { checkTimeout, type WaitOptions, withDeadline } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";
import { QmpTimeoutError } from "../qmp/errors.ts";
import { VmJobError } from "./errors.ts";

let counter = 0;

/** A job id that no other job of this process uses. */
export function newJobId(command: string): string {
  return `vmkit-${command}-${++counter}`;
}

async function jobError(qmp: QmpClient, id: string): Promise<string | undefined> {
  const jobs = await qmp.execute("query-jobs");
  return jobs.find((job) => job.id === id)?.error;
}

async function dismiss(qmp: QmpClient, id: string): Promise<void> {
  await qmp.execute("job-dismiss", { id }, { timeout: 5000 }).catch(() => {});
}

/**
 * Starts the job and waits for it to conclude.
 *
 * @throws {VmJobError} When the job fails.
 * @throws {QmpTimeoutError} When it does not conclude in time (it is cancelled).
 */
export async function runJob(
  qmp: QmpClient,
  command: string,
  args: Record<string, unknown> & { "job-id": string },
  options: WaitOptions & { what: string },
): Promise<void> {
  checkTimeout(options.what, options.timeout);
  const id = args["job-id"];
  const unsubscribe = new AbortController();
  const concluded = qmp.waitForEvent("JOB_STATUS_CHANGE", {
    match: { id, status: "concluded" },
    signal: unsubscribe.signal,
  });
  concluded.catch(() => {});
  try {
    await qmp.execute(command, args);
    try {
      await withDeadline(
        concluded,
        options,
        () => new QmpTimeoutError(`job "${id}" (${command}) to conclude`, options.timeout!),
      );
    } catch (error) {
      await qmp.execute("job-cancel", { id }, { timeout: 5000 }).catch(() => {});
      await withDeadline(concluded, { timeout: 5000 }, () => error as Error).catch(() => {});
      await dismiss(qmp, id);
      throw error;
    }
  } finally {
    // A job QEMU refused, or one that never concluded, leaves no listener behind.
    unsubscribe.abort();
  }
  const failure = await jobError(qmp, id);
  await dismiss(qmp, id);
  if (failure !== undefined) throw new VmJobError(command, id, failure);
}
