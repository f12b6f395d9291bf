/**
 * Network cards and their backends: user-mode networking (slirp) with forwards, tap devices
 * (by name or an open file descriptor), the bridge helper, Ethernet over a stream socket between
 * VMs, and vhost-user. The backend objects are QEMU 7.2's `Netdev*Options`, typed as QAPI types
 * them, written as `-netdev {...}` at boot and sent as `netdev_add` on hot-add.
 *
 * @module
 */

import { defined } from "../_validate.ts";
import type { DeviceArgs, PlanContext, Step } from "./_plan.ts";
import { virtioDriver } from "../machine.ts";
import { backendSteps } from "./_network_backend.ts";

export { checkNetworks, parseNetwork } from "./_network_checks.ts";
export { networkInputs } from "./_network_backend.ts";

/** A host port forwarded into a user-mode network (`hostfwd`). */
export interface HostForward {
  /** Protocol. Default `"tcp"`. */
  protocol?: "tcp" | "udp";
  /** Host IPv4 address to bind; `"0.0.0.0"` binds every address. Default `"127.0.0.1"`. */
  hostAddress?: string;
  /**
   * Host port, 1 to 65535, or 0 for a free port the OS picks when QEMU starts (read it back
   * with `forwardedPort(vm.qmp, { guestPort })`; `.ssh()` does).
   */
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
export interface NicCommon {
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
  /** The type of this description: `"user"`. */
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
  /** The type of this description: `"tap"`. */
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
  /** The type of this description: `"bridge"`. */
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
  /** The type of this description: `"stream"`. */
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
  /** The type of this description: `"vhost-user"`. */
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
