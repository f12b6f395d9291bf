// Checks of a user-mode network (slirp): host forwards (no port bound twice), guest forwards
// (inside the network, one per port), the DNS server and DHCP addresses, and the DHCP host name.

import {
  checkArray,
  checkRecord,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalString,
} from "../_validate.ts";
import type { GuestForward, HostForward, NicCommon, UserNetwork } from "./network.ts";
import { quote } from "./_network_fields.ts";
import { checkIPv4, dotted, inside, nth, type Subnet, subnetOf } from "./_user_net.ts";

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

/** Checks a port, 1 to 65535 (0 too, for a host port the OS picks). */
function checkPort(field: string, value: unknown, options: { any?: boolean } = {}): number {
  const low = options.any ? 0 : 1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < low || value > 65535) {
    throw new RangeError(
      `Cannot forward ${field} ${quote(value)}: use a port from 1 to 65535${
        options.any ? ", or 0 for a free one picked at launch" : ""
      }`,
    );
  }
  return value;
}

/** Checks a host name or IPv4 address a guest forward connects to. */
function checkHostName(field: string, value: unknown): string {
  if (typeof value !== "string" || !HOST_NAME.test(value)) {
    throw new TypeError(
      `Cannot set ${field} to ${quote(value)}: use a host name or an IPv4 address`,
    );
  }
  return value;
}

/** The key under which QEMU binds a host forward: protocol, address and port. */
function forwardKey(forward: HostForward): { protocol: string; address: string; port: number } {
  return {
    protocol: forward.protocol ?? "tcp",
    address: forward.hostAddress ?? "127.0.0.1",
    port: forward.hostPort,
  };
}

/** Whether two host forwards bind the same port (`0.0.0.0` binds it on every address). */
export function clash(a: HostForward, b: HostForward): boolean {
  const x = forwardKey(a);
  const y = forwardKey(b);
  // Port 0 is a different free port each time.
  return x.protocol === y.protocol && x.port === y.port && x.port !== 0 &&
    (x.address === y.address || x.address === "0.0.0.0" || y.address === "0.0.0.0");
}

/** A host forward as `protocol:address:port`, for errors. */
export function describeForward(forward: HostForward): string {
  const { protocol, address, port } = forwardKey(forward);
  return `${protocol}:${address}:${port}`;
}

/** Checks a user network's host forwards: no host port bound twice. */
function parseForwards(field: Field, value: unknown): HostForward[] | undefined {
  if (value === undefined) return undefined;
  const list = field("forwards");
  const forwards: HostForward[] = [];
  checkArray(list, value).forEach((item, i) => {
    const where = `${list}[${i}]`;
    const f = checkRecord(where, item, ["protocol", "hostAddress", "hostPort", "guestPort"]);
    if (f.hostAddress !== undefined) checkIPv4(`${where}.hostAddress`, f.hostAddress);
    const forward: HostForward = defined({
      protocol: optionalEnum(`${where}.protocol`, f.protocol, ["tcp", "udp"]),
      hostAddress: f.hostAddress as string | undefined,
      hostPort: checkPort(`${where}.hostPort`, f.hostPort, { any: true }),
      guestPort: checkPort(`${where}.guestPort`, f.guestPort),
    });
    const earlier = forwards.findIndex((other) => clash(other, forward));
    if (earlier >= 0) {
      throw new RangeError(
        `Cannot forward host port ${describeForward(forward)} twice: ${list}[${earlier}] binds ${
          describeForward(forwards[earlier])
        }, and ${where} binds it too`,
      );
    }
    forwards.push(forward);
  });
  return forwards;
}

/** Checks an address in the user network: inside it, and neither the host nor the DNS server. */
function checkGuestSide(
  field: string,
  address: number,
  subnet: Subnet,
  dns: number,
  what: string,
): void {
  const text = `${what} ${JSON.stringify(dotted(address))}`;
  if (!inside(subnet, address)) {
    throw new TypeError(`Cannot set ${field}: ${text} is outside ${subnet.text}`);
  }
  if (address === subnet.host) {
    throw new TypeError(
      `Cannot set ${field}: ${text} is the host's address in ${subnet.text} (its 2nd); use another`,
    );
  }
  if (address === dns) {
    throw new TypeError(
      `Cannot set ${field}: ${text} is the DNS server's address in ${subnet.text}; use another`,
    );
  }
}

/** Checks a user network's guest forwards: each address in the network, one forward a port. */
function parseGuestForwards(
  field: Field,
  value: unknown,
  subnet: Subnet,
  dns: number,
): GuestForward[] | undefined {
  if (value === undefined) return undefined;
  const list = field("guestForwards");
  const ports = new Map<number, string>();
  return checkArray(list, value).map((item, i) => {
    const where = `${list}[${i}]`;
    const f = checkRecord(where, item, ["guestAddress", "guestPort", "host", "port"]);
    let address: number;
    if (f.guestAddress === undefined) {
      if (subnet.prefix > 25) {
        throw new TypeError(
          `Cannot set ${where}: ${subnet.text} has no 100th address, the default guestAddress; give ${where}.guestAddress`,
        );
      }
      address = nth(subnet.network, subnet.mask, 100);
    } else {
      address = checkIPv4(`${where}.guestAddress`, f.guestAddress);
    }
    checkGuestSide(
      f.guestAddress === undefined ? where : `${where}.guestAddress`,
      address,
      subnet,
      dns,
      f.guestAddress === undefined ? "the default guest address" : "guest address",
    );
    const port = checkPort(`${where}.guestPort`, f.guestPort);
    // QEMU names each forward's channel `guestfwd.tcp.<port>`: two on one port clash, whatever
    // their addresses.
    const earlier = ports.get(port);
    if (earlier !== undefined) {
      throw new RangeError(
        `Cannot forward guest port ${port} twice: ${earlier} and ${where} both use it; QEMU allows one guest forward per port`,
      );
    }
    ports.set(port, where);
    return defined({
      guestAddress: f.guestAddress as string | undefined,
      guestPort: port,
      host: checkHostName(`${where}.host`, f.host),
      port: checkPort(`${where}.port`, f.port),
    });
  });
}

/**
 * Checks a user network: its addresses (network, DNS server, first DHCP address), forwards both
 * ways, and DHCP host name.
 */
export function parseUser(
  v: Record<string, unknown>,
  field: Field,
  common: Omit<NicCommon, "type">,
): UserNetwork {
  const subnet = subnetOf(field("net"), v.net);
  const dns = v.dns === undefined
    ? nth(subnet.network, subnet.mask, 3)
    : checkIPv4(field("dns"), v.dns);
  if (dns === subnet.host) {
    throw new TypeError(
      `Cannot set ${field("dns")} to ${
        quote(v.dns)
      }: it is the host's address in ${subnet.text} (its 2nd); use another`,
    );
  }
  const dhcp = v.dhcpStart === undefined
    ? nth(subnet.network, subnet.mask, 15)
    : checkIPv4(field("dhcpStart"), v.dhcpStart);
  if (v.dhcpStart === undefined) {
    // QEMU's default, the 15th address, can only clash in a /29 or /30.
    if (dhcp === subnet.host || dhcp === dns) {
      throw new TypeError(
        `Cannot set ${subnet.text}: its default first DHCP address ${dotted(dhcp)} is the ${
          dhcp === dns ? "DNS server's" : "host's"
        } address; give ${field("dhcpStart")}`,
      );
    }
  } else {
    checkGuestSide(field("dhcpStart"), dhcp, subnet, dns, "first DHCP address");
  }
  return defined({
    type: "user" as const,
    ...common,
    forwards: parseForwards(field, v.forwards),
    guestForwards: parseGuestForwards(field, v.guestForwards, subnet, dns),
    restrict: optionalBoolean(field("restrict"), v.restrict),
    net: v.net as string | undefined,
    dns: v.dns as string | undefined,
    dhcpStart: v.dhcpStart as string | undefined,
    ipv6: optionalBoolean(field("ipv6"), v.ipv6),
    hostname: v.hostname === undefined ? undefined : checkDhcpHostname(field, v.hostname),
  });
}

/** Checks the host name the DHCP server hands the guest: up to 63 letters, digits, "." and "-". */
function checkDhcpHostname(field: Field, value: unknown): string {
  const name = optionalString(field("hostname"), value)!;
  if (!/^[A-Za-z0-9.-]{1,63}$/.test(name)) {
    throw new TypeError(
      `Cannot set ${field("hostname")} to ${
        JSON.stringify(name)
      }: use up to 63 letters, digits, "." and "-"`,
    );
  }
  return name;
}
