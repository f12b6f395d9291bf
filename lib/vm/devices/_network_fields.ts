// Checks of single fields of a network card that more than one kind of card has: MAC addresses,
// interface names, options only virtio-net has, and stream socket addresses.

import { checkSocketPath } from "../_checks.ts";
import type { Field } from "../_validate.ts";
import type { NicCommon } from "./network.ts";

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** A value as an error message quotes it: strings in JSON quotes, anything else as it prints. */
export function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Checks a card's MAC address: six hex bytes, unicast, not all zeros. */
export function checkMac(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !MAC.test(value)) {
    throw new TypeError(`Cannot set ${field} ${quote(value)}: use xx:xx:xx:xx:xx:xx`);
  }
  const first = parseInt(value.slice(0, 2), 16);
  if ((first & 1) === 1 || /^(00:){5}00$/.test(value)) {
    throw new TypeError(
      `Cannot set ${field} ${
        quote(value)
      }: a card needs a unicast address, with an even first byte and not all zeros, such as 52:54:00:12:34:56`,
    );
  }
  return value;
}

/** Checks a host interface name (a tap device, a bridge): up to 15 safe characters. */
export function checkIfname(what: string, value: unknown): string {
  if (typeof value !== "string" || !IFNAME.test(value)) {
    throw new TypeError(
      `Cannot use ${what} ${quote(value)}: use up to 15 letters, digits, "_", "." or "-"`,
    );
  }
  return value;
}

/** Refuses what only virtio-net has on another model, naming both. */
export function needVirtio(
  field: Field,
  model: NicCommon["model"],
  what: string,
  why: string,
): void {
  if (model !== undefined && model !== "virtio-net") {
    throw new TypeError(
      `Cannot use ${what} with ${field("model")} "${model}": ${why}; use model "virtio-net"`,
    );
  }
}

/** A stream address: a unix socket path (with a `/`), or `host:port`. */
export type SocketAddress =
  | { type: "unix"; path: string }
  | { type: "inet"; host: string; port: string };

/** Checks a stream address and splits it into QAPI's `SocketAddress`. */
export function streamAddress(field: string, value: unknown): SocketAddress {
  if (typeof value === "string" && value.includes("/")) {
    return { type: "unix", path: checkSocketPath(field, value) };
  }
  const inet = typeof value === "string"
    ? /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(value)
    : null;
  if (inet === null) {
    throw new TypeError(
      `Cannot set ${field} to ${
        quote(value)
      }: use a unix socket path, with a "/" ("./link.sock" for a relative one), or host:port`,
    );
  }
  const port = Number(inet[2]);
  if (port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot set ${field} to ${quote(value)}: use a port from 1 to 65535`,
    );
  }
  // InetSocketAddress: the port is a string in QAPI.
  return { type: "inet", host: inet[1].replace(/^\[(.*)\]$/, "$1"), port: String(port) };
}
