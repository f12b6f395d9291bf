// The backend of a network card: the `-netdev` / `netdev_add` arguments (QEMU 7.2's
// `Netdev*Options`) and a chardev it needs first, and the host files it needs before QEMU starts.

import { defined } from "../_validate.ts";
import type { NetdevArgs, Step } from "./_plan.ts";
import type { InputFile } from "./_kind.ts";
import type { NetworkDescription } from "./network.ts";
import { socketChardev } from "./chardev.ts";
import { streamAddress } from "./_network_fields.ts";
import { dotted, nth, subnetOf } from "./_user_net.ts";

/** The bridge helper QEMU runs when none is given, and the access list it reads. */
const BRIDGE_HELPER = "/usr/lib/qemu/qemu-bridge-helper";
const BRIDGE_CONF = "/etc/qemu/bridge.conf";

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
export function backendSteps(network: NetworkDescription, id: string): Step[] {
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
