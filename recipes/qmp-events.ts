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
import { qmpCli } from "./_qmp_cli.ts";

const { values, qmp } = await qmpCli(
  "qmp-events",
  "usage: qmp-events.ts [--event NAME ...] SOCKET|HOST:PORT",
  { event: { type: "string", multiple: true } },
);
const stop = new AbortController();
Deno.addSignalListener("SIGINT", () => stop.abort());
Deno.addSignalListener("SIGTERM", () => stop.abort());
const names = values.event as string[] | undefined;
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
