/**
 * Network cards and their backends: user-mode networking (slirp) with forwards, tap devices
 * (by name or an open file descriptor), the bridge helper, Ethernet over a stream socket between
 * VMs, and vhost-user. The backend objects are QEMU 7.2's `Netdev*Options`, typed as QAPI types
 * them, written as `-netdev {...}` at boot and sent as `netdev_add` on hot-add.
 *
 * @module
 */

import { checkId, checkPath, checkSocketPath } from "../_checks.ts";
import {
  checkArray,
  checkEnum,
  checkRecord,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalInteger,
  optionalString,
} from "../_validate.ts";
import type { DeviceArgs, NetdevArgs, PlanContext, Step } from "./_plan.ts";
import type { InputFile } from "./_kind.ts";
import { virtioDriver } from "../machine.ts";
import { socketChardev } from "./chardev.ts";

/** A host port forwarded into a user-mode network (`hostfwd`). */
export interface HostForward {
  /** Protocol. Default `"tcp"`. */
  protocol?: "tcp" | "udp";
  /** Host IPv4 address to bind; `"0.0.0.0"` binds every address. Default `"127.0.0.1"`. */
  hostAddress?: string;
  /** Host port, 1 to 65535. */
  hostPort: number;
  /** Guest port, on the first address the DHCP server hands out (`dhcpStart`). */
  guestPort: number;
}

/**
 * A guest address and port forwarded to a host service (`guestfwd`). QEMU connects to
 * `host:port` once, when the network is created (at start, or on hot-add), and carries every
 * guest connection to `guestAddress:guestPort` over that one connection: the host service must
 * be listening before the VM starts, and sees one connection however often the guest connects.
 */
export interface GuestForward {
  /**
   * IPv4 address the guest connects to, inside `net`, other than the host's and the DNS
   * server's. Default the 100th address of `net`: `"10.0.2.100"`.
   */
  guestAddress?: string;
  /** Port the guest connects to, 1 to 65535; one forward per port in a VM. */
  guestPort: number;
  /** Host name or IPv4 address QEMU connects to. */
  host: string;
  /** Host port QEMU connects to. */
  port: number;
}

/** Options every network card has. */
interface NicCommon {
  /** Device id, also the backend's id; default `net<N>`. */
  id?: string;
  /** MAC address, `xx:xx:xx:xx:xx:xx`, unicast (even first byte). Default QEMU's. */
  mac?: string;
  /** Card model. Default `"virtio-net"`; the others need a PCI bus. */
  model?: "virtio-net" | "e1000" | "e1000e" | "rtl8139";
  /** Boot order among bootable devices (PXE), lowest first. */
  bootIndex?: number;
}

/**
 * User-mode networking (slirp): no privileges; the guest reaches out through QEMU, forwards reach
 * in. In `net`, the host (the gateway, and the host's loopback) is the 2nd address (`10.0.2.2`),
 * the DNS server the 3rd, and DHCP hands out 16 addresses from the 15th (`10.0.2.15`).
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * // ssh to 127.0.0.1:2222 reaches the guest's port 22; the guest reaches a host service
 * // on 127.0.0.1:8080 at 10.0.2.100:80, and nothing else.
 * const builder = vm({ arch: "x86_64" }).network({
 *   type: "user",
 *   restrict: true,
 *   forwards: [{ hostPort: 2222, guestPort: 22 }],
 *   guestForwards: [{ guestPort: 80, host: "127.0.0.1", port: 8080 }],
 * });
 * ``` */
export interface UserNetwork extends NicCommon {
  type: "user";
  /** Host ports forwarded to guest ports. */
  forwards?: readonly HostForward[];
  /** Guest connections forwarded to host services (they work under `restrict` too). */
  guestForwards?: readonly GuestForward[];
  /**
   * Isolate the guest: it reaches neither the host nor the outside; the forwards (both ways)
   * and the built-in DHCP server still work.
   */
  restrict?: boolean;
  /** The guest's IPv4 network, `"a.b.c.d/nn"` (prefix 4 to 30). Default `"10.0.2.0/24"`. */
  net?: string;
  /** Address of the built-in DNS server; default the 3rd address of `net`. */
  dns?: string;
  /** First of the 16 addresses the DHCP server hands out; default the 15th address of `net`. */
  dhcpStart?: string;
  /** IPv6 on the user network. Default on (QEMU's default). */
  ipv6?: boolean;
  /** Host name the DHCP server hands the guest (DHCP option 12). */
  hostname?: string;
}

/**
 * A host tap device, by name or as an open descriptor. By name, QEMU opens it (made beforehand
 * with `ip tuntap add dev NAME mode tap`, or made by QEMU when run as root) and runs no script.
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * // As root: ip tuntap add dev tap0 mode tap && ip link set tap0 up
 * const builder = vm({ arch: "x86_64" }).network({ type: "tap", ifname: "tap0" });
 * ``` */
export interface TapNetwork extends NicCommon {
  type: "tap";
  /** Interface name (up to 15 characters). Give this or `fd`. */
  ifname?: string;
  /**
   * An open tap file descriptor QEMU inherits. Only for `toArgv()`/`toShell()` run by a launcher
   * that passes it: Deno cannot hand a child process extra descriptors, so `launch()` refuses it.
   */
  fd?: number;
  /** vhost-net acceleration (needs `/dev/vhost-net`, and a virtio-net card). */
  vhost?: boolean;
  /**
   * Queue pairs (multi-queue virtio-net), 1 to 64. A tap made beforehand must have been made
   * `multi_queue` (`ip tuntap add dev NAME mode tap multi_queue`).
   */
  queues?: number;
}

/**
 * A tap device on a host bridge, made by QEMU's `qemu-bridge-helper`, which allows only the
 * bridges `/etc/qemu/bridge.conf` allows (`allow br0`) and needs root (or to be setuid root).
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * // As root, with "allow br0" in /etc/qemu/bridge.conf:
 * const builder = vm({ arch: "x86_64" }).network({ type: "bridge", bridge: "br0" });
 * ``` */
export interface BridgeNetwork extends NicCommon {
  type: "bridge";
  /** The host bridge. */
  bridge: string;
  /** The helper; default QEMU's, `/usr/lib/qemu/qemu-bridge-helper`. */
  helper?: string;
}

/**
 * An Ethernet link over a stream socket (QEMU 7.2's `stream` netdev): one VM listens, one
 * connects. The listening VM must be started first: QEMU 7.2 connects once, at start, and a
 * connection that fails leaves the card without a link, silently.
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const base = vm({ arch: "x86_64" });
 * // Launch `a` first, then `b`; each needs its own MAC.
 * const a = base.network({
 *   type: "stream",
 *   server: true,
 *   address: "/tmp/link.sock",
 *   mac: "52:54:00:00:00:01",
 * });
 * const b = base.network({
 *   type: "stream",
 *   server: false,
 *   address: "/tmp/link.sock",
 *   mac: "52:54:00:00:00:02",
 * });
 * ``` */
export interface StreamNetwork extends NicCommon {
  type: "stream";
  /** Listen (`true`) or connect (`false`). */
  server: boolean;
  /**
   * A unix socket path (it has a `/`: write `./link.sock` for a relative one), or `host:port`
   * (`[::1]:port` for IPv6).
   */
  address: string;
}

/**
 * A vhost-user backend (a switch such as DPDK or Open vSwitch) on a unix socket. The backend
 * maps guest memory: the VM needs shared memory,
 * `.memory(size, { backend: { type: "memfd", share: true } })`, and a virtio-net card.
 *
 * @example
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const builder = vm({ arch: "x86_64" })
 *   .memory("1G", { backend: { type: "memfd", share: true } })
 *   .network({ type: "vhost-user", socket: "/run/ovs/vhost-user0" });
 * ``` */
export interface VhostUserNetwork extends NicCommon {
  type: "vhost-user";
  /** The backend's unix socket; QEMU connects to it, so the backend must be listening. */
  socket: string;
  /** Queue pairs, 1 to 64 (at most what the backend offers). */
  queues?: number;
}

/** A network card and its backend. */
export type NetworkDescription =
  | UserNetwork
  | TapNetwork
  | BridgeNetwork
  | StreamNetwork
  | VhostUserNetwork;

/** A network card and its backend, as `.network()` takes it. */
export type NetworkOptions = NetworkDescription;

const COMMON = ["type", "id", "mac", "model", "bootIndex"];
const KEYS: Record<NetworkDescription["type"], readonly string[]> = {
  user: [
    ...COMMON,
    "forwards",
    "guestForwards",
    "restrict",
    "net",
    "dns",
    "dhcpStart",
    "ipv6",
    "hostname",
  ],
  tap: [...COMMON, "ifname", "fd", "vhost", "queues"],
  bridge: [...COMMON, "bridge", "helper"],
  stream: [...COMMON, "server", "address"],
  "vhost-user": [...COMMON, "socket", "queues"],
};

/** The bridge helper QEMU runs when none is given, and the access list it reads. */
const BRIDGE_HELPER = "/usr/lib/qemu/qemu-bridge-helper";
const BRIDGE_CONF = "/etc/qemu/bridge.conf";

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

// ---- IPv4 arithmetic, for the checks QEMU's user network makes at start ----

/** An IPv4 address as an unsigned 32-bit number, or undefined when `text` is not one. */
function ipv4(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (match === null) return undefined;
  const bytes = match.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

function dotted(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join(".");
}

function checkIPv4(field: string, value: unknown): number {
  const n = ipv4(value);
  if (n === undefined) {
    throw new TypeError(`Cannot set ${field} to ${quote(value)}: use an IPv4 address, a.b.c.d`);
  }
  return n;
}

/** A user network's addresses, as QEMU's `net_slirp_init` works them out. */
interface Subnet {
  /** The field and how the network was written, for errors: `network net "10.0.3.0/24"`. */
  text: string;
  network: number;
  mask: number;
  prefix: number;
  /** The host's (gateway's) address: the 2nd. */
  host: number;
}

function subnetOf(field: string, value: unknown): Subnet {
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
function nth(network: number, mask: number, n: number): number {
  return (network | (n & ~mask)) >>> 0;
}

function inside(subnet: Subnet, address: number): boolean {
  return ((address & subnet.mask) >>> 0) === subnet.network;
}

// ---- Field checks ----

function checkPort(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new RangeError(`Cannot forward ${field} ${quote(value)}: use a port from 1 to 65535`);
  }
  return value;
}

function checkHostName(field: string, value: unknown): string {
  if (typeof value !== "string" || !HOST_NAME.test(value)) {
    throw new TypeError(
      `Cannot set ${field} to ${quote(value)}: use a host name or an IPv4 address`,
    );
  }
  return value;
}

function checkMac(field: string, value: unknown): string | undefined {
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

/** The key under which QEMU binds a host forward: protocol, address and port. */
function forwardKey(forward: HostForward): { protocol: string; address: string; port: number } {
  return {
    protocol: forward.protocol ?? "tcp",
    address: forward.hostAddress ?? "127.0.0.1",
    port: forward.hostPort,
  };
}

/** Whether two host forwards bind the same port (`0.0.0.0` binds it on every address). */
function clash(a: HostForward, b: HostForward): boolean {
  const x = forwardKey(a);
  const y = forwardKey(b);
  return x.protocol === y.protocol && x.port === y.port &&
    (x.address === y.address || x.address === "0.0.0.0" || y.address === "0.0.0.0");
}

function describeForward(forward: HostForward): string {
  const { protocol, address, port } = forwardKey(forward);
  return `${protocol}:${address}:${port}`;
}

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
      hostPort: checkPort(`${where}.hostPort`, f.hostPort),
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

function parseUser(
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

function checkIfname(what: string, value: unknown): string {
  if (typeof value !== "string" || !IFNAME.test(value)) {
    throw new TypeError(
      `Cannot use ${what} ${quote(value)}: use up to 15 letters, digits, "_", "." or "-"`,
    );
  }
  return value;
}

/** Refuses what only virtio-net has on another model, naming both. */
function needVirtio(field: Field, model: NicCommon["model"], what: string, why: string): void {
  if (model !== undefined && model !== "virtio-net") {
    throw new TypeError(
      `Cannot use ${what} with ${field("model")} "${model}": ${why}; use model "virtio-net"`,
    );
  }
}

function parseTap(
  v: Record<string, unknown>,
  field: Field,
  common: Omit<NicCommon, "type">,
): TapNetwork {
  if ((v.ifname === undefined) === (v.fd === undefined)) {
    throw new TypeError(
      `Cannot use a tap device: give either ${field("ifname")} or ${field("fd")}, not ${
        v.ifname === undefined ? "neither" : "both"
      }`,
    );
  }
  const tap: TapNetwork = defined({
    type: "tap" as const,
    ...common,
    ifname: v.ifname === undefined ? undefined : checkIfname("tap interface", v.ifname),
    fd: optionalInteger(field("fd"), v.fd, 3, 65535),
    vhost: optionalBoolean(field("vhost"), v.vhost),
    queues: optionalInteger(field("queues"), v.queues, 1, 64),
  });
  if (tap.fd !== undefined && tap.queues !== undefined) {
    throw new TypeError(
      `Cannot use ${field("queues")} with ${
        field("fd")
      }: QEMU opens one queue per descriptor, and a tap given as one descriptor has one queue; open it by ifname`,
    );
  }
  if ((tap.queues ?? 1) > 1) {
    needVirtio(
      field,
      tap.model,
      `${field("queues")} ${tap.queues}`,
      "only virtio-net has several queues",
    );
  }
  if (tap.vhost === true) {
    needVirtio(field, tap.model, field("vhost"), "vhost-net serves only virtio-net");
  }
  return tap;
}

/** A stream address: a unix socket path (with a `/`), or `host:port`. */
type SocketAddress =
  | { type: "unix"; path: string }
  | { type: "inet"; host: string; port: string };

function streamAddress(field: string, value: unknown): SocketAddress {
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

/**
 * Checks a network description.
 *
 * @param value The description.
 * @param field Names its fields in errors.
 * @returns The checked description.
 * @throws {TypeError} For a bad type, address, interface name or MAC, or options that cannot
 *   go together (naming both).
 * @throws {RangeError} For a port or count out of range, or a port forwarded twice.
 *
 * @example
 * ```ts
 * import { parseNetwork } from "./network.ts";
 * import { pathField } from "../_validate.ts";
 * const network = parseNetwork(
 *   { type: "user", forwards: [{ hostPort: 2222, guestPort: 22 }] },
 *   pathField("networks[0]"),
 * );
 * ```
 */
export function parseNetwork(value: unknown, field: Field): NetworkDescription {
  const type = checkEnum(
    field("type"),
    (value as { type?: unknown } | null)?.type,
    ["user", "tap", "bridge", "stream", "vhost-user"],
  );
  const v = checkRecord(field("options"), value, KEYS[type]);
  const common = defined({
    id: v.id === undefined ? undefined : checkId("network", v.id as string),
    mac: checkMac(field("mac"), v.mac),
    model: optionalEnum(field("model"), v.model, ["virtio-net", "e1000", "e1000e", "rtl8139"]),
    bootIndex: optionalInteger(field("bootIndex"), v.bootIndex, 0, 1000),
  });
  switch (type) {
    case "user":
      return parseUser(v, field, common);
    case "tap":
      return parseTap(v, field, common);
    case "bridge":
      return defined({
        type,
        ...common,
        bridge: checkIfname("bridge", v.bridge),
        helper: v.helper === undefined ? undefined : checkPath(field("helper"), v.helper as string),
      });
    case "stream":
      if (typeof v.server !== "boolean") {
        throw new TypeError(
          `Cannot set ${field("server")} to ${
            quote(v.server)
          }: use true (listen) or false (connect)`,
        );
      }
      streamAddress(field("address"), v.address);
      return { type, ...common, server: v.server, address: v.address as string };
    case "vhost-user": {
      // QEMU refuses a vhost-user netdev on any card but virtio-net.
      needVirtio(field, common.model, "a vhost-user backend", "vhost-user serves only virtio-net");
      return defined({
        type,
        ...common,
        socket: checkSocketPath(field("socket"), v.socket as string),
        queues: optionalInteger(field("queues"), v.queues, 1, 64),
      });
    }
  }
}

/**
 * Checks the network cards of one VM together: two cannot bind the same host port, forward
 * the same guest port (QEMU names a guest forward after its port alone), open the same tap
 * device, or listen on the same stream address.
 *
 * @param networks The VM's networks, in order.
 * @param ids Their ids.
 * @throws {RangeError} Naming both networks and what they share.
 *
 * @example
 * ```ts
 * import { checkNetworks } from "./network.ts";
 * checkNetworks([{ type: "user" }, { type: "user" }], ["net0", "net1"]);
 * ```
 */
export function checkNetworks(
  networks: readonly NetworkDescription[],
  ids: readonly string[],
): void {
  const taken = new Map<string, string>();
  const take = (key: string, what: string, index: number) => {
    const other = taken.get(key);
    if (other !== undefined && other !== ids[index]) {
      throw new RangeError(
        `Cannot add network "${ids[index]}": ${what} is also used by network "${other}"`,
      );
    }
    taken.set(key, ids[index]);
  };
  const forwards: { forward: HostForward; id: string }[] = [];
  networks.forEach((network, index) => {
    switch (network.type) {
      case "user":
        for (const forward of network.forwards ?? []) {
          const other = forwards.find((f) => f.id !== ids[index] && clash(f.forward, forward));
          if (other !== undefined) {
            throw new RangeError(
              `Cannot add network "${ids[index]}": host port ${
                describeForward(forward)
              } is also forwarded by network "${other.id}"`,
            );
          }
          forwards.push({ forward, id: ids[index] });
        }
        for (const forward of network.guestForwards ?? []) {
          take(`guestfwd:${forward.guestPort}`, `guest forward port ${forward.guestPort}`, index);
        }
        break;
      case "tap":
        if (network.ifname !== undefined) {
          take(`tap:${network.ifname}`, `tap device "${network.ifname}"`, index);
        }
        break;
      case "stream":
        if (network.server) {
          take(`stream:${network.address}`, `stream address "${network.address}"`, index);
        }
        break;
    }
  });
}

/**
 * The host files a network needs before QEMU starts, each with what to do when it is missing:
 * the socket a stream client or vhost-user connects to, `/dev/vhost-net`, and the bridge
 * helper and its access list.
 *
 * @param network The network.
 * @param id Its id.
 * @returns The files.
 *
 * @example
 * ```ts
 * import { networkInputs } from "./network.ts";
 * const files = networkInputs({ type: "bridge", bridge: "br0" }, "net0");
 * ```
 */
export function networkInputs(network: NetworkDescription, id: string): InputFile[] {
  switch (network.type) {
    case "user":
      return [];
    case "tap":
      return network.vhost === true
        ? [{
          what: `network "${id}" (vhost)`,
          path: "/dev/vhost-net",
          hint: "load the vhost_net module (modprobe vhost_net), or leave out vhost",
          expect: "any",
        }]
        : [];
    case "bridge": {
      if (network.helper !== undefined && network.helper !== BRIDGE_HELPER) return [];
      return [
        {
          what: `network "${id}" bridge helper`,
          path: BRIDGE_HELPER,
          hint: "install qemu-system-common",
        },
        {
          what: `network "${id}" bridge access list`,
          path: BRIDGE_CONF,
          hint: `allow the bridge in it: echo "allow ${network.bridge}" >> ${BRIDGE_CONF}`,
        },
      ];
    }
    case "stream": {
      const address = streamAddress("address", network.address);
      return !network.server && address.type === "unix"
        ? [{
          what: `network "${id}" stream socket`,
          path: address.path,
          hint: "start the VM that listens on it (server: true) first",
          expect: "any",
        }]
        : [];
    }
    case "vhost-user":
      return [{
        what: `network "${id}" vhost-user socket`,
        path: network.socket,
        hint: "start the vhost-user backend first",
        expect: "any",
      }];
  }
}

/** The backend (`-netdev`, `netdev_add`) of a network, and a chardev it needs first. */
function backendSteps(network: NetworkDescription, id: string): Step[] {
  switch (network.type) {
    case "user": {
      const subnet = subnetOf("net", network.net);
      const hostfwd = (network.forwards ?? []).map((f) => ({
        str: `${f.protocol ?? "tcp"}:${f.hostAddress ?? "127.0.0.1"}:${f.hostPort}-:${f.guestPort}`,
      }));
      const guestfwd = (network.guestForwards ?? []).map((f) => ({
        str: `tcp:${
          f.guestAddress ?? dotted(nth(subnet.network, subnet.mask, 100))
        }:${f.guestPort}-tcp:${f.host}:${f.port}`,
      }));
      // NetdevUserOptions: restrict and ipv6 are bool, hostfwd and guestfwd arrays of String.
      const args: NetdevArgs = defined({
        type: "user",
        id,
        net: network.net,
        dns: network.dns,
        dhcpstart: network.dhcpStart,
        hostname: network.hostname,
        restrict: network.restrict,
        ipv6: network.ipv6,
        ...hostfwd.length > 0 ? { hostfwd } : {},
        ...guestfwd.length > 0 ? { guestfwd } : {},
      });
      return [{ kind: "netdev", args }];
    }
    case "tap":
      // NetdevTapOptions: fd is a str, queues an int; script and downscript are invalid with fd.
      return [{
        kind: "netdev",
        args: defined({
          type: "tap",
          id,
          ifname: network.ifname,
          fd: network.fd === undefined ? undefined : String(network.fd),
          ...network.fd === undefined ? { script: "no", downscript: "no" } : {},
          vhost: network.vhost,
          queues: network.queues,
        }),
      }];
    case "bridge":
      return [{
        kind: "netdev",
        args: defined({ type: "bridge", id, br: network.bridge, helper: network.helper }),
      }];
    case "stream":
      return [{
        kind: "netdev",
        args: {
          type: "stream",
          id,
          server: network.server,
          addr: streamAddress("address", network.address),
        },
      }];
    case "vhost-user":
      return [
        socketChardev(`${id}-chr`, network.socket, { server: false }),
        {
          kind: "netdev",
          args: defined({ type: "vhost-user", id, chardev: `${id}-chr`, queues: network.queues }),
        },
      ];
  }
}

/** The queue pairs of a network card. */
function queues(network: NetworkDescription): number | undefined {
  return network.type === "tap" || network.type === "vhost-user" ? network.queues : undefined;
}

/**
 * The steps of a network card: its backend, then its device.
 *
 * @param network The network.
 * @param id The id of the backend and of the device.
 * @param ctx The machine, and the root port when hot-adding.
 * @returns The steps.
 * @throws {TypeError} For vhost-user without shared memory, and a model other than virtio-net
 *   on a machine without PCI.
 *
 * @example
 * ```ts
 * import { networkPlan } from "./network.ts";
 * import { archProfile } from "../arch.ts";
 * const steps = networkPlan({ type: "user" }, "net0", {
 *   arch: archProfile("x86_64"),
 *   machine: "q35",
 *   transport: "pci",
 *   runtimeDir: "/tmp/vmkit",
 *   sharedMemory: false,
 * });
 * ```
 */
export function networkPlan(network: NetworkDescription, id: string, ctx: PlanContext): Step[] {
  const model = network.model ?? "virtio-net";
  if (network.type === "vhost-user" && !ctx.sharedMemory) {
    throw new TypeError(
      `Cannot add network "${id}" (vhost-user "${network.socket}"): its backend maps guest memory, and the VM has no shared memory backend; use .memory(size, { backend: { type: "memfd", share: true } })`,
    );
  }
  if (model !== "virtio-net" && ctx.transport !== "pci") {
    throw new TypeError(
      `Cannot add network "${id}" with model "${model}": it is a PCI card, and machine "${ctx.machine}" has no PCI bus; use model "virtio-net"`,
    );
  }
  const pairs = queues(network) ?? 1;
  const device: DeviceArgs = defined({
    driver: model === "virtio-net" ? virtioDriver(ctx.transport, "net") : model,
    netdev: id,
    id,
    mac: network.mac,
    ...ctx.bus === undefined ? {} : { bus: ctx.bus },
    // One MSI-X vector per queue, one for the control queue and one for configuration changes;
    // only virtio-pci has vectors.
    ...pairs > 1 ? { mq: true, ...ctx.transport === "pci" ? { vectors: 2 * pairs + 2 } : {} } : {},
    bootindex: network.bootIndex,
  });
  return [...backendSteps(network, id), { kind: "device", args: device }];
}
