/**
 * Which host port a user-network (slirp) host forward is bound to. A forward written with host
 * port 0 (`hostfwd=tcp:127.0.0.1:0-:22`) lets the OS pick a free port as QEMU binds it, so there
 * is no race between choosing a port and binding it; QEMU 7.2's `info usernet` then shows the
 * port it got.
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import type { QmpClient } from "../qmp/client.ts";

/** A host forward as `info usernet` lists it. */
export interface UsernetForward {
  /** The user network's backend id (`-netdev` id), as in `Hub -1 (net0):`. */
  netdev: string;
  /** Protocol. */
  protocol: "tcp" | "udp";
  /** The host address it is bound to; `"*"` for every address. */
  hostAddress: string;
  /** The host port it is bound to (the one the OS picked, when 0 was asked for). */
  hostPort: number;
  /** The guest address it forwards to. */
  guestAddress: string;
  /** The guest port it forwards to. */
  guestPort: number;
}

/**
 * The host forwards in the output of the HMP command `info usernet` (QEMU's user networks, from
 * libslirp's connection table); connections and other sockets are left out.
 *
 * @param usernet What `info usernet` printed.
 * @returns The forwards, in the order listed.
 *
 * @example
 * ```ts
 * import { usernetForwards } from "@vmkit/vmkit";
 * const text = "Hub -1 (net0):\r\n" +
 *   "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n" +
 *   "  TCP[HOST_FORWARD]   8       127.0.0.1 45527       10.0.2.15    22     0     0\r\n";
 * console.log(usernetForwards(text)[0].hostPort); // 45527
 * ```
 */
export function usernetForwards(usernet: string): UsernetForward[] {
  const forwards: UsernetForward[] = [];
  let netdev = "";
  for (const line of usernet.split(/\r?\n/)) {
    const hub = /^Hub -?\d+ \((.*)\):\s*$/.exec(line);
    if (hub !== null) {
      netdev = hub[1];
      continue;
    }
    const row =
      /^\s*(TCP|UDP)\[HOST_FORWARD\]\s+-?\d+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+\d+\s+\d+\s*$/
        .exec(line);
    if (row === null) continue;
    forwards.push({
      netdev,
      protocol: row[1] === "TCP" ? "tcp" : "udp",
      hostAddress: row[2],
      hostPort: Number(row[3]),
      guestAddress: row[4],
      guestPort: Number(row[5]),
    });
  }
  return forwards;
}

/** Options of {@linkcode forwardedPort}. */
export interface ForwardedPortOptions extends WaitOptions {
  /** The guest port the forward goes to, such as 22. */
  guestPort: number;
  /** Protocol. Default `"tcp"`. */
  protocol?: "tcp" | "udp";
  /** The user network's backend id, when several forward to the same guest port. */
  netdev?: string;
}

/**
 * Asks a running QEMU which host port forwards to a guest port, through `info usernet`.
 *
 * @param qmp The VM's QMP client (only its `hmp` is used).
 * @param options The guest port, protocol and network; time limit and signal for the query.
 * @returns The host port.
 * @throws {RangeError} When no forward goes to that guest port, or more than one does and
 *   `netdev` does not pick one: the message lists the forwards there are.
 * @throws {QmpError} When QEMU refuses the query.
 *
 * @example
 * ```ts
 * import type { Vm } from "@vmkit/vmkit";
 * declare const vm: Vm;
 * import { forwardedPort } from "@vmkit/vmkit";
 * // Launched with forwards: [{ hostPort: 0, guestPort: 22 }]
 * const port = await forwardedPort(vm.qmp, { guestPort: 22 });
 * ```
 */
export async function forwardedPort(
  qmp: Pick<QmpClient, "hmp">,
  options: ForwardedPortOptions,
): Promise<number> {
  const { guestPort, protocol = "tcp", netdev, signal, timeout } = options;
  if (!Number.isInteger(guestPort) || guestPort < 1 || guestPort > 65535) {
    throw new RangeError(
      `Cannot find the host port of guest port ${guestPort}: use a port from 1 to 65535`,
    );
  }
  const forwards = usernetForwards(await qmp.hmp("info usernet", { signal, timeout }));
  const matches = forwards.filter((f) =>
    f.guestPort === guestPort && f.protocol === protocol &&
    (netdev === undefined || f.netdev === netdev)
  );
  const what = `the host port forwarded to guest ${protocol} port ${guestPort}${
    netdev === undefined ? "" : ` on network "${netdev}"`
  }`;
  const listed = forwards.length === 0
    ? "QEMU has no host forwards"
    : `QEMU has ${
      forwards.map((f) =>
        `${f.protocol}:${f.hostAddress}:${f.hostPort}-:${f.guestPort} on "${f.netdev}"`
      ).join(", ")
    }`;
  if (matches.length === 0) {
    throw new RangeError(
      `Cannot find ${what}: ${listed}; forward it with a hostPort (0 picks one)`,
    );
  }
  if (matches.length > 1) {
    throw new RangeError(`Cannot pick ${what}: ${listed}; name the network with netdev`);
  }
  return matches[0].hostPort;
}
