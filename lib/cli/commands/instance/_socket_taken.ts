/**
 * Whether another client holds one of an instance's sockets (its console, its events monitor).
 *
 * @module
 */

import type { Instance } from "../../../instance/mod.ts";

/**
 * Whether a client is attached to one of the instance's sockets (QMP `query-chardev` names a
 * listening socket `disconnected:unix:PATH,server=on` while nobody is), when QMP can tell.
 */
export async function socketTaken(instance: Instance, socket: string): Promise<boolean> {
  try {
    await using qmp = await instance.qmp({ timeout: 2000 });
    const chardevs = await qmp.execute("query-chardev", undefined, { timeout: 2000 });
    return chardevs.some((c) => c.filename === `unix:${socket},server=on`);
  } catch {
    return false;
  }
}
