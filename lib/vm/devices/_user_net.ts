// IPv4 arithmetic, for the checks QEMU's user network (slirp) makes at start: addresses as
// unsigned 32-bit numbers, the network a "a.b.c.d/nn" names, and its n-th address.

import { quote } from "./_network_fields.ts";

/** An IPv4 address as an unsigned 32-bit number, or undefined when `text` is not one. */
function ipv4(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (match === null) return undefined;
  const bytes = match.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

/** An address as `a.b.c.d`. */
export function dotted(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join(".");
}

/** Checks an IPv4 address, `a.b.c.d`, and returns it as a number. */
export function checkIPv4(field: string, value: unknown): number {
  const n = ipv4(value);
  if (n === undefined) {
    throw new TypeError(`Cannot set ${field} to ${quote(value)}: use an IPv4 address, a.b.c.d`);
  }
  return n;
}

/** A user network's addresses, as QEMU's `net_slirp_init` works them out. */
export interface Subnet {
  /** The field and how the network was written, for errors: `network net "10.0.3.0/24"`. */
  text: string;
  /** The network's own address (its 0th). */
  network: number;
  /** The netmask, as a number. */
  mask: number;
  /** The prefix length, 4 to 30. */
  prefix: number;
  /** The host's (gateway's) address: the 2nd. */
  host: number;
}

/** The user network `net` names (default `10.0.2.0/24`), checked: a prefix from 4 to 30. */
export function subnetOf(field: string, value: unknown): Subnet {
  const text = value ?? "10.0.2.0/24";
  const match = typeof text === "string" ? /^([0-9.]+)\/([0-9]{1,2})$/.exec(text) : null;
  const address = match === null ? undefined : ipv4(match[1]);
  const prefix = match === null ? NaN : Number(match[2]);
  // QEMU takes prefixes 4 to 32; from /31 on no DHCP address is left beside the host and DNS.
  if (address === undefined || !(prefix >= 4 && prefix <= 30)) {
    throw new TypeError(
      `Cannot set ${field} to ${quote(text)}: use "a.b.c.d/nn" with a prefix nn from 4 to 30`,
    );
  }
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  const network = (address & mask) >>> 0;
  return {
    text: value === undefined ? `${field} (default "${text}")` : `${field} "${text}"`,
    network,
    mask,
    prefix,
    host: nth(network, mask, 2),
  };
}

/** The `n`-th address of a network, as QEMU counts (wrapping inside small networks). */
export function nth(network: number, mask: number, n: number): number {
  return (network | (n & ~mask)) >>> 0;
}

/** Whether an address is inside a user network. */
export function inside(subnet: Subnet, address: number): boolean {
  return ((address & subnet.mask) >>> 0) === subnet.network;
}
