/**
 * The QMP client: commands matched by id, events, and errors that say what happened. Commands,
 * arguments, replies and events are typed from QEMU's schema, with QEMU's own documentation.
 *
 * @example Talk to any QEMU started with `-qmp unix:/run/vm/qmp.sock,server=on,wait=off`
 * ```ts
 * import { QmpClient } from "@vmkit/vmkit";
 * await using qmp = await QmpClient.connect("/run/vm/qmp.sock", { timeout: 5000 });
 * const { status } = await qmp.execute("query-status"); // "running" | "paused" | ...
 * const stopped = qmp.waitForEvent("STOP", { timeout: 5000 });
 * await qmp.execute("stop");
 * console.log(status, (await stopped).timestamp);
 * ```
 *
 * @module
 */
export * from "./client.ts";
export * from "./command_line.ts";
export * from "./errors.ts";
export * from "./event_stream.ts";
export * from "./qapi.ts";
