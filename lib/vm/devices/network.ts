/**
 * Network cards and their backends: user-mode networking (slirp) with forwards, tap devices
 * (by name or an open file descriptor), the bridge helper, sockets between VMs and
 * vhost-user.
 *
 * @module
 */

import { checkId, checkPath } from "../_checks.ts";
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
import { virtioDriver } from "../machine.ts";
import { socketChardev } from "./chardev.ts";

/** A host port forwarded into a user-mode network. */
export interface HostForward {
  /** Protocol. Default `"tcp"`. */
  protocol?: "tcp" | "udp";
  /** Host address to bind. Default `"127.0.0.1"`. */
  hostAddress?: string;
  /** Host port. */
  hostPort: number;
  /** Guest port. */
  guestPort: number;
}

/** A guest connection to `guestAddress:guestPort` forwarded to `host:port` on the host. */
export interface GuestForward {
  /** Address the guest connects to, in the user network. Default `"10.0.2.100"`. */
  guestAddress?: string;
  /** Port the guest connects to. */
  guestPort: number;
  /** Host address to connect to. */
  host: string;
  /** Host port to connect to. */
  port: number;
}

/** Options every network card has. */
interface NicCommon {
  /** Device id, also the backend's id; default `net<N>`. */
  id?: string;
  /** MAC address, `xx:xx:xx:xx:xx:xx`. */
  mac?: string;
  /** Card model. Default `"virtio-net"`. */
  model?: "virtio-net" | "e1000" | "e1000e" | "rtl8139";
  /** Boot order among bootable devices (PXE), lowest first. */
  bootIndex?: number;
}

/** User-mode networking (slirp): no privileges; the guest reaches out, forwards reach in. */
export interface UserNetwork extends NicCommon {
  type: "user";
  /** Host ports forwarded to guest ports. */
  forwards?: readonly HostForward[];
  /** Guest connections forwarded to host addresses. */
  guestForwards?: readonly GuestForward[];
  /** Isolate the guest: no connections out, only the forwards. */
  restrict?: boolean;
  /** Network, such as `"10.0.2.0/24"`. */
  net?: string;
  /** Address of the built-in DNS server. */
  dns?: string;
  /** First address the DHCP server hands out. */
  dhcpStart?: string;
  /** IPv6 on the user network. Default on (QEMU's default). */
  ipv6?: boolean;
  /** Host name the DHCP server hands out. */
  hostname?: string;
}

/** A tap device by name (made beforehand, e.g. `ip tuntap add`), or an open descriptor. */
export interface TapNetwork extends NicCommon {
  type: "tap";
  /** Interface name. */
  ifname?: string;
  /**
   * An open tap file descriptor QEMU inherits. Only for `toArgv()`/`toShell()` run by a launcher
   * that passes it: Deno cannot hand a child process extra descriptors, so `launch()` refuses it.
   */
  fd?: number;
  /** vhost-net acceleration. */
  vhost?: boolean;
  /** Queue pairs (multi-queue virtio-net). */
  queues?: number;
}

/** A tap device on a host bridge, made by QEMU's setuid `qemu-bridge-helper`. */
export interface BridgeNetwork extends NicCommon {
  type: "bridge";
  /** The host bridge, allowed in `/etc/qemu/bridge.conf`. */
  bridge: string;
  /** The helper. Default QEMU's. */
  helper?: string;
}

/** An Ethernet link over a stream socket: one VM listens, the others connect. */
export interface StreamNetwork extends NicCommon {
  type: "stream";
  /** Listen (`true`) or connect. */
  server: boolean;
  /** A unix socket path, or `host:port`. */
  address: string;
}

/** A vhost-user backend (a switch such as DPDK/OVS) on a unix socket; needs shared memory. */
export interface VhostUserNetwork extends NicCommon {
  type: "vhost-user";
  /** The backend's unix socket. */
  socket: string;
  /** Queue pairs. */
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

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const ADDRESS = /^[A-Za-z0-9.:-]+$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function checkAddress(field: string, value: unknown): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw new TypeError(`Cannot set ${field} to ${JSON.stringify(value)}: not an address`);
  }
  return value;
}

function checkPort(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new RangeError(`Cannot forward ${field} ${String(value)}: use a port from 1 to 65535`);
  }
  return value;
}

function parseForwards(field: Field, value: unknown): HostForward[] | undefined {
  if (value === undefined) return undefined;
  const used = new Set<string>();
  return checkArray(field("forwards"), value).map((item, i) => {
    const f = checkRecord(`${field("forwards")}[${i}]`, item, [
      "protocol",
      "hostAddress",
      "hostPort",
      "guestPort",
    ]);
    const forward: HostForward = defined({
      protocol: optionalEnum("forward protocol", f.protocol, ["tcp", "udp"]),
      hostAddress: f.hostAddress === undefined
        ? undefined
        : checkAddress("forward host address", f.hostAddress),
      hostPort: checkPort("hostPort", f.hostPort),
      guestPort: checkPort("guestPort", f.guestPort),
    });
    const key = `${forward.protocol ?? "tcp"}:${
      forward.hostAddress ?? "127.0.0.1"
    }:${forward.hostPort}`;
    if (used.has(key)) throw new RangeError(`Cannot forward host port ${key} twice`);
    used.add(key);
    return forward;
  });
}

function parseGuestForwards(field: Field, value: unknown): GuestForward[] | undefined {
  if (value === undefined) return undefined;
  return checkArray(field("guestForwards"), value).map((item, i) => {
    const where = `${field("guestForwards")}[${i}]`;
    const f = checkRecord(where, item, ["guestAddress", "guestPort", "host", "port"]);
    return defined({
      guestAddress: f.guestAddress === undefined
        ? undefined
        : checkAddress(`${where}.guestAddress`, f.guestAddress),
      guestPort: checkPort("guestPort", f.guestPort),
      host: checkAddress(`${where}.host`, f.host),
      port: checkPort("port", f.port),
    });
  });
}

/**
 * Checks a network description.
 *
 * @param value The description.
 * @param field Names its fields in errors.
 * @returns The checked description.
 */
export function parseNetwork(value: unknown, field: Field): NetworkDescription {
  const type = checkEnum(
    field("type"),
    (value as { type?: unknown } | null)?.type,
    ["user", "tap", "bridge", "stream", "vhost-user"],
  );
  const v = checkRecord(field("options"), value, KEYS[type]);
  if (v.mac !== undefined && (typeof v.mac !== "string" || !MAC.test(v.mac))) {
    throw new TypeError(
      `Cannot set ${field("mac")} ${JSON.stringify(v.mac)}: use xx:xx:xx:xx:xx:xx`,
    );
  }
  const common = defined({
    id: v.id === undefined ? undefined : checkId("network", v.id as string),
    mac: v.mac as string | undefined,
    model: optionalEnum(field("model"), v.model, ["virtio-net", "e1000", "e1000e", "rtl8139"]),
    bootIndex: optionalInteger(field("bootIndex"), v.bootIndex, 0, 1000),
  });
  switch (type) {
    case "user":
      return defined({
        type,
        ...common,
        forwards: parseForwards(field, v.forwards),
        guestForwards: parseGuestForwards(field, v.guestForwards),
        restrict: optionalBoolean(field("restrict"), v.restrict),
        net: v.net === undefined ? undefined : checkCidr(field("net"), v.net),
        dns: v.dns === undefined ? undefined : checkAddress(field("dns"), v.dns),
        dhcpStart: v.dhcpStart === undefined
          ? undefined
          : checkAddress(field("dhcpStart"), v.dhcpStart),
        ipv6: optionalBoolean(field("ipv6"), v.ipv6),
        hostname: v.hostname === undefined ? undefined : checkHostname(field, v.hostname),
      });
    case "tap":
      return parseTap(v, field, common);
    case "bridge":
      if (typeof v.bridge !== "string" || !IFNAME.test(v.bridge)) {
        throw new TypeError(
          `Cannot use bridge ${
            JSON.stringify(v.bridge)
          }: use up to 15 letters, digits, "_", "." or "-"`,
        );
      }
      return defined({
        type,
        ...common,
        bridge: v.bridge,
        helper: v.helper === undefined ? undefined : checkPath(field("helper"), v.helper as string),
      });
    case "stream":
      if (typeof v.server !== "boolean") {
        throw new TypeError(
          `Cannot set ${field("server")} to ${
            String(v.server)
          }: use true (listen) or false (connect)`,
        );
      }
      return {
        type,
        ...common,
        server: v.server,
        address: checkPath(field("address"), v.address as string),
      };
    case "vhost-user":
      return defined({
        type,
        ...common,
        socket: checkPath(field("socket"), v.socket as string),
        queues: optionalInteger(field("queues"), v.queues, 1, 64),
      });
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
  if (v.ifname !== undefined && (typeof v.ifname !== "string" || !IFNAME.test(v.ifname))) {
    throw new TypeError(
      `Cannot use tap interface ${
        JSON.stringify(v.ifname)
      }: use up to 15 letters, digits, "_", "." or "-"`,
    );
  }
  return defined({
    type: "tap" as const,
    ...common,
    ifname: v.ifname as string | undefined,
    fd: optionalInteger(field("fd"), v.fd, 3, 65535),
    vhost: optionalBoolean(field("vhost"), v.vhost),
    queues: optionalInteger(field("queues"), v.queues, 1, 64),
  });
}

function checkCidr(field: string, value: unknown): string {
  if (typeof value !== "string" || !/^[0-9.]+\/[0-9]{1,2}$/.test(value)) {
    throw new TypeError(`Cannot set ${field} to ${JSON.stringify(value)}: use "a.b.c.d/nn"`);
  }
  return value;
}

function checkHostname(field: Field, value: unknown): string {
  const name = optionalString(field("hostname"), value)!;
  if (!/^[A-Za-z0-9.-]{1,63}$/.test(name)) {
    throw new TypeError(
      `Cannot set ${field("hostname")} to ${
        JSON.stringify(name)
      }: use letters, digits, "." and "-"`,
    );
  }
  return name;
}

function streamAddress(address: string): Record<string, unknown> {
  const inet = /^(.*):([0-9]+)$/.exec(address);
  if (inet !== null && !address.includes("/")) {
    return { type: "inet", host: inet[1], port: inet[2] };
  }
  return { type: "unix", path: address };
}

/** The backend (`-netdev`, `netdev_add`) of a network, and a chardev it needs first. */
function backendSteps(network: NetworkDescription, id: string): Step[] {
  switch (network.type) {
    case "user": {
      const hostfwd = (network.forwards ?? []).map((f) => ({
        str: `${f.protocol ?? "tcp"}:${f.hostAddress ?? "127.0.0.1"}:${f.hostPort}-:${f.guestPort}`,
      }));
      const guestfwd = (network.guestForwards ?? []).map((f) => ({
        str: `tcp:${f.guestAddress ?? "10.0.2.100"}:${f.guestPort}-tcp:${f.host}:${f.port}`,
      }));
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
        args: { type: "stream", id, server: network.server, addr: streamAddress(network.address) },
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
 */
export function networkPlan(network: NetworkDescription, id: string, ctx: PlanContext): Step[] {
  const model = network.model ?? "virtio-net";
  const pairs = queues(network);
  const device: DeviceArgs = defined({
    driver: model === "virtio-net" ? virtioDriver(ctx.transport, "net") : model,
    netdev: id,
    id,
    mac: network.mac,
    ...ctx.bus === undefined ? {} : { bus: ctx.bus },
    ...pairs !== undefined && pairs > 1 && model === "virtio-net"
      ? { mq: true, vectors: 2 * pairs + 2 }
      : {},
    bootindex: network.bootIndex,
  });
  return [...backendSteps(network, id), { kind: "device", args: device }];
}
