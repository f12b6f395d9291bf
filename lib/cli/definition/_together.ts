// The problems only the whole definition shows: fields that exclude or need each other, and
// values that clash with another of their list. Each is reported at the field to change (the
// second of two forwards of one port, not `network`), before the builder could refuse it in
// its own words.

import type { z } from "npm:zod@^4.1.0";
import type { Arch } from "../../vm/arch.ts";
import type { HostForward } from "../../vm/devices/network.ts";
import { clash } from "../../vm/devices/_user_net_checks.ts";
import { readForward } from "./_forward.ts";
import { addProblem } from "./_issue_text.ts";
import { fieldName } from "./_issues.ts";

type Ctx = z.core.$RefinementCtx;
type Fields = Record<string, unknown>;

function asFields(value: unknown): Fields | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Fields
    : undefined;
}

/** A forward as written (text or mapping) as the builder's, or `undefined` when unreadable. */
function hostForwardOf(written: unknown): HostForward | undefined {
  if (typeof written === "string") {
    const read = readForward(written);
    if (read === undefined) return undefined;
    return {
      hostPort: read.host,
      guestPort: read.guest,
      ...read.address === undefined ? {} : { hostAddress: read.address },
      ...read.protocol === undefined ? {} : { protocol: read.protocol },
    };
  }
  const fields = asFields(written);
  if (fields === undefined || typeof fields.host !== "number") return undefined;
  return {
    hostPort: fields.host,
    guestPort: typeof fields.guest === "number" ? fields.guest : 1,
    ...typeof fields.address === "string" ? { hostAddress: fields.address } : {},
    ...fields.protocol === "udp" || fields.protocol === "tcp" ? { protocol: fields.protocol } : {},
  };
}

/** A second forward of a host port QEMU binds already: at the second one. */
function checkForwards(network: unknown, ctx: Ctx): void {
  const forwards = asFields(network)?.forwards;
  if (!Array.isArray(forwards)) return;
  const seen: { at: number; forward: HostForward }[] = [];
  forwards.forEach((written, i) => {
    const forward = hostForwardOf(written);
    if (forward === undefined) return;
    const earlier = seen.find((s) => clash(s.forward, forward));
    if (earlier !== undefined) {
      const protocol = forward.protocol ?? "tcp";
      const address = forward.hostAddress ?? "127.0.0.1";
      const other = earlier.forward.hostAddress ?? "127.0.0.1";
      addProblem(
        ctx,
        `host port ${forward.hostPort} (${protocol} on ${address}) is forwarded already by ${
          fieldName(["network", "forwards", earlier.at])
        }${other === address ? "" : ` (on ${other})`}`,
        "expected each host port once (or 0, a free port picked at start)",
        ["network", "forwards", i],
      );
    }
    seen.push({ at: i, forward });
  });
}

/** A mount tag given to two shares: at the second one's tag. */
function checkShareTags(shares: unknown, ctx: Ctx): void {
  if (!Array.isArray(shares)) return;
  const first = new Map<string, number>();
  shares.forEach((share, i) => {
    const tag = asFields(share)?.tag;
    if (typeof tag !== "string") return;
    const earlier = first.get(tag);
    if (earlier === undefined) first.set(tag, i);
    else {
      addProblem(
        ctx,
        `${JSON.stringify(tag)} is the tag of ${fieldName(["shares", earlier])} too`,
        "expected a tag of its own for each share (the guest mounts a share by its tag)",
        ["shares", i, "tag"],
      );
    }
  });
}

/** Disk interfaces the architecture's QEMU has (NVMe, IDE and USB sit on PCI). */
function checkInterfaces(arch: Arch | undefined, disks: unknown, ctx: Ctx): void {
  if (arch !== "s390x" || !Array.isArray(disks)) return;
  disks.forEach((disk, i) => {
    const iface = asFields(disk)?.interface;
    if (iface === "nvme" || iface === "ide" || iface === "usb") {
      addProblem(
        ctx,
        `${JSON.stringify(iface)} needs a PCI controller, and QEMU for s390x has none`,
        'expected "virtio-blk" or "scsi"',
        ["disks", i, "interface"],
      );
    }
  });
}

/** An IDE hard disk cannot be read-only (QEMU refuses). */
function checkReadOnly(disks: unknown, ctx: Ctx): void {
  if (!Array.isArray(disks)) return;
  disks.forEach((disk, i) => {
    const fields = asFields(disk);
    if (fields?.readOnly === true && fields.interface === "ide") {
      addProblem(
        ctx,
        "an IDE hard disk cannot be read-only (QEMU refuses it)",
        'expected readOnly: false, or another interface such as "virtio-blk" or "scsi"',
        ["disks", i, "readOnly"],
      );
    }
  });
}

/** The seed's fields that belong to one format, and how it is served. */
function checkSeed(def: Fields, ctx: Ctx): void {
  const seed = asFields(def.seed);
  if (seed === undefined) return;
  const configDrive = seed.format === "configdrive";
  if (configDrive && seed.networkConfig !== undefined) {
    addProblem(
      ctx,
      "networkConfig is NoCloud's, and format is configdrive",
      "expected networkData (OpenStack's network_data.json) with format: configdrive, or format: nocloud",
      ["seed", "networkConfig"],
    );
  }
  if (!configDrive && seed.networkData !== undefined) {
    addProblem(
      ctx,
      `networkData is ConfigDrive's, and format is ${
        seed.format === undefined ? "nocloud (the default)" : "nocloud"
      }`,
      "expected networkConfig with a NoCloud seed, or format: configdrive",
      ["seed", "networkData"],
    );
  }
  if (seed.via !== "http") return;
  if (configDrive) {
    addProblem(
      ctx,
      "http serves only NoCloud seeds (cloud-init fetches no ConfigDrive over HTTP), and format is configdrive",
      "expected via: disk, or format: nocloud",
      ["seed", "via"],
    );
  } else if (def.network === "none") {
    addProblem(
      ctx,
      "http needs a user-mode network to serve the seed through, and network is none",
      'expected via: disk, or network: "user"',
      ["seed", "via"],
    );
  } else if (def.network === undefined && (def.ssh === undefined || def.ssh === false)) {
    addProblem(
      ctx,
      "http needs a user-mode network to serve the seed through, and the VM has no network",
      'expected via: disk, or network: "user"',
      ["seed", "via"],
    );
  }
}

/** ssh and what it needs: a seed (or a key the guest has), a user network, a user it can make. */
function checkSsh(def: Fields, ctx: Ctx): void {
  const ssh = def.ssh;
  if (ssh === undefined || ssh === false) return;
  const seed = asFields(def.seed);
  const options = asFields(ssh) ?? {};
  if (def.network === "none") {
    addProblem(
      ctx,
      "none cannot be given with ssh, which connects through a user-mode network",
      'expected "user" (or leave network out: ssh adds one)',
      ["network"],
    );
  }
  if (seed === undefined && options.identity === undefined) {
    addProblem(
      ctx,
      "the key vmkit makes for the VM reaches the guest through the cloud-init seed, and there is none",
      "expected a seed (seed: {} is enough for an image with cloud-init), or ssh.identity with a key the guest accepts already",
      ["ssh"],
    );
  } else if (
    typeof seed?.userData === "string" && (options.user === undefined || options.user === "vmkit")
  ) {
    addProblem(
      ctx,
      "the default user vmkit is made through the seed's userData, which is text here and vmkit does not edit text",
      "expected ssh.user naming the image's default user (debian, ubuntu...), or userData as a mapping",
      ["ssh"],
    );
  }
}

/**
 * Adds the problems of fields that exclude or need each other, or clash within a list.
 *
 * @param def The definition, each field checked on its own already.
 * @param ctx The refinement context of the definition's schema.
 */
export function checkTogether(def: Fields, ctx: Ctx): void {
  if (def.guest !== undefined && def.kernel !== undefined) {
    addProblem(
      ctx,
      `kernel cannot be given with guest: ${String(def.guest)}, which brings its own`,
      "expected one of guest and kernel",
      ["kernel"],
    );
  }
  checkSsh(def, ctx);
  checkSeed(def, ctx);
  checkForwards(def.network, ctx);
  checkShareTags(def.shares, ctx);
  checkInterfaces(def.arch as Arch | undefined, def.disks, ctx);
  checkReadOnly(def.disks, ctx);
}
