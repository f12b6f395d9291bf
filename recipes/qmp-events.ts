#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write
/**
 * Prints a running QEMU's QMP events as JSON lines until interrupted (Ctrl-C) or QEMU goes.
 *
 * Deno grants a unix socket only with net, read and write access to its path; the shebang grants
 * them for any path because the socket is yours to name. To narrow them, run it as
 * `deno run --allow-net=unix:SOCK --allow-read=SOCK --allow-write=SOCK recipes/qmp-events.ts SOCK`.
 *
 * Usage: ./recipes/qmp-events.ts [--event NAME ...] SOCKET|HOST:PORT
 */
import { parseArgs } from "node:util";
import { QmpClient } from "../mod.ts";

const usage = "usage: qmp-events.ts [--event NAME ...] SOCKET|HOST:PORT";
let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      event: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (error) {
  console.error(`qmp-events: ${(error as Error).message}\n${usage}`);
  Deno.exit(2);
}
if (parsed.values.help) {
  console.log(usage);
  Deno.exit(0);
}
if (parsed.positionals.length !== 1) {
  console.error(`qmp-events: give one QMP socket path or HOST:PORT\n${usage}`);
  Deno.exit(2);
}

let qmp: QmpClient;
try {
  qmp = await QmpClient.connect(parsed.positionals[0], { timeout: 10_000 });
} catch (error) {
  console.error(`qmp-events: ${(error as Error).message}`);
  Deno.exit(2);
}
const stop = new AbortController();
Deno.addSignalListener("SIGINT", () => stop.abort());
Deno.addSignalListener("SIGTERM", () => stop.abort());
const names = parsed.values.event;
try {
  for await (
    const event of qmp.events({ signal: stop.signal, capacity: 65536, ...(names ? { names } : {}) })
  ) {
    console.log(JSON.stringify(event));
  }
} catch (error) {
  if (!stop.signal.aborted) throw error;
}
const reason = await (qmp.isClosed ? qmp.closed : qmp.close().then(() => undefined));
if (reason !== undefined) {
  console.error(`qmp-events: ${reason.message}`);
  Deno.exit(1);
}
Deno.exit(0);
