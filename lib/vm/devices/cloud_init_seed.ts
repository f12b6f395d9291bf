/**
 * A cloud-init seed made at launch: NoCloud (or ConfigDrive) written into the runtime directory
 * and attached as a read-only virtio disk, or served over HTTP to a VM on user networking and
 * named by the SMBIOS serial. With `.ssh()`, the seed also gives the guest the VM's login key and
 * its host key. The seed's server stops with the VM.
 *
 * @module
 */

import {
  type CloudConfig,
  type CloudConfigUser,
  cloudInit,
  type CloudInitNetworkConfig,
  type CloudInitSeed,
  configDrive,
} from "../../guest/cloud_init.ts";
import { serveCloudInit } from "../../guest/cloud_init_server.ts";
import { defined, type Field, optionalEnum } from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import { optionList } from "../qemu_opts.ts";
import type { DeviceKind, LaunchFacts } from "./_kind.ts";
import { HOST_KEY_ALIAS, KNOWN_HOSTS, SSH_DIR, VMKIT_SSH_USER } from "./ssh.ts";
import { writeKnownHosts } from "../../ssh/known_hosts.ts";

/** A cloud-init seed for the guest, made at launch (`.cloudInit()`). */
export interface CloudInitDevice {
  /** The kind of this description: `"cloud-init"`. */
  kind: "cloud-init";
  /**
   * User-data: a `#cloud-config` object, or raw text (a script, `#cloud-config` YAML...). Default
   * an empty `#cloud-config`.
   */
  userData?: string | CloudConfig;
  /** Meta-data: NoCloud's (`local-hostname`...) or ConfigDrive's (`hostname`...). */
  metaData?: Record<string, unknown>;
  /** NoCloud's `network-config`. */
  networkConfig?: string | CloudInitNetworkConfig;
  /** ConfigDrive's `network_data.json`. */
  networkData?: Record<string, unknown>;
  /** Vendor-data, in the forms of `userData`. */
  vendorData?: string | CloudConfig;
  /** `"nocloud"` (default, label `cidata`) or `"configdrive"` (OpenStack's `config-2`). */
  format?: "nocloud" | "configdrive";
  /**
   * `"disk"` (default): a read-only virtio disk; `"http"`: served on 127.0.0.1 to a VM on
   * user-mode networking (NoCloud only), found through the SMBIOS serial
   * `ds=nocloud-net;s=http://10.0.2.2:PORT/`, and stopped with the VM.
   */
  via?: "disk" | "http";
}

/** The seed's file in the runtime directory. */
export const SEED_FILE = "seed.iso";
const NODE = "vmkit-seed";

/** The seed as given, checked by building it once. */
function parseSeed(v: Record<string, unknown>, field: Field): CloudInitDevice {
  const format = optionalEnum(field("format"), v.format, ["nocloud", "configdrive"]);
  const via = optionalEnum(field("via"), v.via, ["disk", "http"]);
  if (via === "http" && format === "configdrive") {
    throw new TypeError(
      `Cannot serve a ConfigDrive seed over HTTP: cloud-init fetches only NoCloud seeds; set ${
        field("via")
      } to "disk", or ${field("format")} to "nocloud"`,
    );
  }
  if (format === "configdrive" && v.networkConfig !== undefined) {
    throw new TypeError(
      `Cannot use ${field("networkConfig")} with a ConfigDrive seed: give ${field("networkData")}`,
    );
  }
  if (format !== "configdrive" && v.networkData !== undefined) {
    throw new TypeError(
      `Cannot use ${field("networkData")} with a NoCloud seed: give ${field("networkConfig")}`,
    );
  }
  const device = defined({
    kind: "cloud-init" as const,
    userData: v.userData as CloudInitDevice["userData"],
    metaData: v.metaData as CloudInitDevice["metaData"],
    networkConfig: v.networkConfig as CloudInitDevice["networkConfig"],
    networkData: v.networkData as CloudInitDevice["networkData"],
    vendorData: v.vendorData as CloudInitDevice["vendorData"],
    format,
    via,
  });
  // The seed's own refusal ("Cannot write cloud-config: runcmd must be a list ...") already
  // names what is wrong; wrapped, it would say "Cannot" twice.
  buildSeed(device, undefined);
  return structuredClone(device);
}

/** Adds the VM's login user (or key) and host key to the seed's user-data and meta-data. */
function withSsh(
  device: CloudInitDevice,
  ssh: NonNullable<LaunchFacts["ssh"]>,
): { userData: string | CloudConfig; metaData: Record<string, unknown>; hostKey: boolean } {
  const userData = device.userData ?? {};
  const metaData = { ...device.metaData ?? {} };
  const key = ssh.publicKey;
  if (typeof userData === "string") {
    // Text cannot be edited safely: the image's default user gets the key from meta-data, and
    // the host key is learned from the console.
    addMetaKey(device, metaData, key);
    return { userData, metaData, hostKey: false };
  }
  const config: CloudConfig = { ...userData };
  const users = [...config.users ?? ["default"]];
  const at = users.findIndex((u) => typeof u === "object" && u.name === ssh.user);
  if (at >= 0) {
    const user = users[at] as CloudConfigUser;
    users[at] = { ...user, ssh_authorized_keys: [...user.ssh_authorized_keys ?? [], key] };
    config.users = users;
  } else if (ssh.user === VMKIT_SSH_USER) {
    users.push({
      name: VMKIT_SSH_USER,
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      lock_passwd: true,
      ssh_authorized_keys: [key],
    });
    config.users = users;
  } else {
    addMetaKey(device, metaData, key);
  }
  config.ssh_keys = {
    ...config.ssh_keys as Record<string, unknown> | undefined,
    ed25519_private: ssh.hostKey.privateKey,
    ed25519_public: ssh.hostKey.publicKey,
  };
  return { userData: config, metaData, hostKey: true };
}

function addMetaKey(
  device: CloudInitDevice,
  metaData: Record<string, unknown>,
  key: string,
): void {
  if (device.format === "configdrive") {
    metaData.public_keys = { ...metaData.public_keys as object | undefined, vmkit: key };
  } else {
    const keys = metaData["public-keys"];
    metaData["public-keys"] = [...Array.isArray(keys) ? keys : keys ? [keys] : [], key];
  }
}

/** The seed image, with the VM's SSH keys when it has `.ssh()`. */
function buildSeed(
  device: CloudInitDevice,
  ssh: LaunchFacts["ssh"],
): { seed: CloudInitSeed; hostKey: boolean } {
  const given = ssh === undefined
    ? { userData: device.userData ?? {}, metaData: device.metaData, hostKey: false }
    : withSsh(device, ssh);
  const seed = device.format === "configdrive"
    ? configDrive({
      userData: given.userData,
      metaData: given.metaData,
      networkData: device.networkData,
      vendorData: device.vendorData,
    })
    : cloudInit({
      userData: given.userData,
      metaData: given.metaData,
      networkConfig: device.networkConfig,
      vendorData: device.vendorData,
    });
  return { seed, hostKey: given.hostKey };
}

/** The cloud-init kind. */
export const cloudInitKind: DeviceKind<CloudInitDevice> = {
  keys: ["userData", "metaData", "networkConfig", "networkData", "vendorData", "format", "via"],
  single: true,
  parse: (v, field) => parseSeed(v, field),
  plan(device, ctx) {
    if (device.via === "http") {
      const port = ctx.facts?.seedPort;
      const serial = `ds=nocloud-net;s=http://10.0.2.2:${port ?? "<port picked at launch>"}/`;
      return [{
        kind: "arg",
        argv: ["-smbios", optionList("type=1", [["serial", serial, "cloud-init serial"]])],
        why: "the seed is served from launch",
      }];
    }
    return [{
      kind: "arg",
      argv: [
        "-blockdev",
        JSON.stringify({
          driver: "raw",
          "node-name": NODE,
          "read-only": true,
          file: { driver: "file", filename: `${ctx.runtimeDir}/${SEED_FILE}`, "read-only": true },
        }),
        "-device",
        JSON.stringify({ driver: virtioDriver(ctx.transport, "blk"), drive: NODE, id: NODE }),
      ],
      why: "the seed is written at launch",
    }];
  },
  ids: () => [NODE],
  async prepare(device, runtimeDir, _index, facts) {
    const { seed, hostKey } = buildSeed(device, facts.ssh);
    if (facts.ssh !== undefined && hostKey) {
      // The guest will have this host key: ssh can check it from the first connection.
      facts.ssh.hostKeyGiven = true;
      await writeKnownHosts(`${runtimeDir}/${SSH_DIR}/${KNOWN_HOSTS}`, [
        facts.ssh.hostKey.publicKey,
      ], {
        hostKeyAlias: HOST_KEY_ALIAS,
      });
    }
    if (device.via === "http") {
      const server = await serveCloudInit(seed);
      facts.seedPort = Number(new URL(server.url).port);
      return { what: "cloud-init seed server", stop: () => server.close() };
    }
    await seed.write(`${runtimeDir}/${SEED_FILE}`);
    return { what: "cloud-init seed", stop: () => Promise.resolve() };
  },
};
