// Checks of network descriptions: each card on its own (`parseNetwork`), and the cards of one VM
// together (`checkNetworks`). `network.ts` exports both.

import { checkId, checkPath, checkSocketPath } from "../_checks.ts";
import {
  checkEnum,
  checkRecord,
  defined,
  type Field,
  optionalBoolean,
  optionalEnum,
  optionalInteger,
} from "../_validate.ts";
import type { HostForward, NetworkDescription, NicCommon, TapNetwork } from "./network.ts";
import { checkIfname, checkMac, needVirtio, quote, streamAddress } from "./_network_fields.ts";
import { clash, describeForward, parseUser } from "./_user_net_checks.ts";

/** The keys every network takes. */
const COMMON = ["type", "id", "mac", "model", "bootIndex"];
/** The keys each type of network takes. */
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

/** Checks a tap network: a name or a descriptor, and queues and vhost only where they work. */
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
