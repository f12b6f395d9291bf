// A host forward QEMU could not set up ("Could not set up host forwarding rule
// 'tcp:127.0.0.1:2222-:22'"): the port is taken, often by another instance, whose record keeps
// the forwards its last start set up. Naming that instance says what to stop.

import { readInstanceRecord } from "./record.ts";
import { qemuState } from "./_reconcile.ts";

/** A host forward QEMU refused, as its message names it. */
export interface RefusedForward {
  protocol: "tcp" | "udp";
  hostAddress: string;
  hostPort: number;
  guestPort: number;
}

const RULE = /Could not set up host forwarding rule '(tcp|udp):([^:']*):(\d+)-[^:']*:(\d+)'/;

/** The forward QEMU's words say it could not set up, if they say so. */
export function refusedForward(said: string): RefusedForward | undefined {
  const match = RULE.exec(said);
  if (match === null) return undefined;
  return {
    protocol: match[1] as "tcp" | "udp",
    hostAddress: match[2] === "" ? "0.0.0.0" : match[2],
    hostPort: Number(match[3]),
    guestPort: Number(match[4]),
  };
}

/**
 * The running instance (other than `self`) whose last start forwards the host port, if any.
 *
 * @param base Where instances live.
 * @param self The instance being started.
 * @param forward The refused forward.
 * @returns Its name and QEMU's pid.
 */
export async function forwardHolder(
  base: string,
  self: string,
  forward: RefusedForward,
): Promise<{ name: string; pid: number } | undefined> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(base)) {
      if (entry.isDirectory && entry.name !== self) names.push(entry.name);
    }
  } catch {
    return undefined;
  }
  for (const name of names.sort()) {
    const dir = `${base}/${name}`;
    const record = await readInstanceRecord(dir).catch(() => undefined);
    const holds = record?.lastStart?.forwards.some((f) =>
      f.protocol === forward.protocol && f.hostPort === forward.hostPort
    );
    if (!holds) continue;
    const state = await qemuState(dir);
    if (state.status === "running") return { name, pid: state.pid! };
  }
  return undefined;
}

/**
 * What to say of a refused forward: the instance holding its port, or that something else
 * listens there.
 *
 * @param base Where instances live.
 * @param self The instance being started.
 * @param forward The refused forward.
 * @returns The reason and what to do, for "Cannot start instance NAME: ...".
 */
export async function refusedForwardText(
  base: string,
  self: string,
  forward: RefusedForward,
): Promise<string> {
  const port =
    `host port ${forward.hostPort} (${forward.protocol}, forwarded to guest port ${forward.guestPort})`;
  const holder = await forwardHolder(base, self, forward);
  if (holder !== undefined) {
    return `${port} is taken by instance "${holder.name}" (running, QEMU pid ${holder.pid}); stop it (vmkit stop ${holder.name}), or forward another host port (0 lets the system pick a free one)`;
  }
  return `${port} is in use by another program on ${forward.hostAddress}; free it, or forward another host port (0 lets the system pick a free one)`;
}
