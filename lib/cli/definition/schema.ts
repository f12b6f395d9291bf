/**
 * The VM definition's schema: one zod schema is the TypeScript type ({@linkcode VmDefinition}),
 * the runtime check ({@linkcode loadDefinition}) and the JSON Schema editors read
 * (`lib/cli/vm.schema.json`, written by `deno task gen:schema`).
 *
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import { binarySize } from "../../_size.ts";
import type { Arch } from "../../vm/arch.ts";
import type { DiskInterface } from "../../vm/devices/disk.ts";
import { allowing } from "./_allowed.ts";
import { addProblem as problem } from "./_issue_text.ts";
import { checkTogether } from "./_together.ts";
import { FORWARD_TEXT, readForward } from "./_forward.ts";

const ARCHES = [
  "x86_64",
  "aarch64",
  "riscv64",
  "s390x",
  "ppc64le",
] as const satisfies readonly Arch[];
/**
 * Other names of the architectures, as Debian (`dpkg --print-architecture`), Docker and Go spell
 * them, and as `vmkit kernel --arch` takes them: read as vmkit's own.
 */
const ARCH_ALIASES = {
  amd64: "x86_64",
  x64: "x86_64",
  arm64: "aarch64",
  ppc64el: "ppc64le",
} as const satisfies Record<string, Arch>;
const ARCH_NAMES = [...ARCHES, ...Object.keys(ARCH_ALIASES) as (keyof typeof ARCH_ALIASES)[]];
const ARCH_ALLOWED = `expected ${ARCHES.map((a) => `"${a}"`).join(", ")} (or ${
  Object.keys(ARCH_ALIASES).map((a) => `"${a}"`).join(", ")
})`;

const INTERFACES = [
  "virtio-blk",
  "scsi",
  "nvme",
  "ide",
  "usb",
] as const satisfies readonly DiskInterface[];

/** Text QEMU takes as one argument: no newline, no NUL. */
const ONE_LINE = /^[^\n\0]*$/;

const MIB = 2 ** 20;
/** Memory sizes as QEMU's `-m` reads them (lib/vm/size.ts): a bare number is MiB. */
const MEMORY_SIZE = /^\d+(\.\d+)?\s*([KkMmGgTt]([Ii]?[Bb]|[Ii])?|[Bb])?$/;
/** Disk sizes: a number and a unit, powers of 1024 (qemu-img's units up to P). */
const DISK_SIZE = /^\d+(\.\d+)?\s*[KkMmGgTtPp]([Ii]?[Bb]|[Ii])?$/;

const MEMORY_ALLOWED =
  'expected a whole number of MiB such as "512M" or "2G" (units K, M, G, T: powers of 1024; a bare number is MiB)';
const DISK_SIZE_ALLOWED =
  'expected a number and a unit such as "10G" or "512M" (K, M, G, T, P: powers of 1024), in whole 512-byte sectors';
const PATH_ALLOWED =
  "expected a path, relative to the directory of the file it is written in, or ~/...";
const FORWARD_ALLOWED =
  'expected "HOST:GUEST" such as "2222:22" (also "ADDRESS:HOST:GUEST" and a "/udp" ending), or a mapping with host and guest ports';

/** A path to a file or directory on the host. */
function hostPath(description: string): z.ZodString {
  return allowing(z.string().min(1), PATH_ALLOWED).describe(description);
}

/**
 * Text that must be a size: what is wrong with it, if anything. The JSON Schema gets `pattern`
 * for editors; the messages come from here.
 */
function sizeText(
  pattern: RegExp,
  bare: number,
  units: string,
  check: (bytes: number, quoted: string) => string | undefined,
  allowed: string,
) {
  return allowing(
    z.string().superRefine((text, ctx) => {
      const quoted = JSON.stringify(text);
      const read = binarySize(text, bare);
      if ("error" in read && read.error === "unit") {
        problem(ctx, `${quoted} has an unknown unit ${JSON.stringify(read.unit)}`, allowed);
      } else if (!pattern.test(text)) {
        problem(
          ctx,
          "bytes" in read ? `${quoted} has no unit` : `${quoted} is not a size`,
          allowed,
        );
      } else if ("bytes" in read) {
        const wrong = check(read.bytes, quoted);
        if (wrong !== undefined) problem(ctx, wrong, allowed);
      }
    }).meta({ pattern: pattern.source }),
    allowed,
    `a size (${units})`,
  );
}

const memorySchema = allowing(
  z.union([
    sizeText(MEMORY_SIZE, MIB, "K, M, G, T", (bytes, quoted) => {
      if (bytes === 0) return `${quoted} is zero`;
      if (bytes % MIB !== 0) return `${quoted} is not a whole number of MiB`;
      return undefined;
    }, MEMORY_ALLOWED),
    allowing(z.number().int().min(1), MEMORY_ALLOWED),
  ]),
  MEMORY_ALLOWED,
).describe(
  'Guest memory: a size such as "512M" or "2G" (K, M, G, T: powers of 1024), or a number of MiB, at most what the host has (memory and swap). Default QEMU\'s (128M).',
);

const diskSizeSchema = sizeText(DISK_SIZE, 1, "K, M, G, T, P", (bytes, quoted) => {
  if (bytes === 0) return `${quoted} is zero`;
  if (!Number.isInteger(bytes) || bytes % 512 !== 0) {
    return `${quoted} is not a whole number of 512-byte sectors`;
  }
  return undefined;
}, DISK_SIZE_ALLOWED);

const diskSchema = allowing(
  z.strictObject({
    image: hostPath(
      "An existing disk image, attached as it is: the guest's writes change it. Give image, overlayOf or size.",
    ).optional(),
    overlayOf: hostPath(
      "A base image the guest boots from without changing it: vmkit makes a qcow2 overlay of it (diskN.qcow2 in the VM's directory), which takes the guest's writes and is kept across restarts.",
    ).optional(),
    size: diskSizeSchema.describe(
      "Alone: a new blank disk of this size (diskN.qcow2 in the VM's directory, kept across restarts). With overlayOf: the overlay's size, to give the guest more room than the base has. Such as \"10G\".",
    ).optional(),
    format: allowing(z.enum(["qcow2", "raw"]), 'expected "qcow2" or "raw"').describe(
      "The format of the file named: image's (default: read from the file), the base of overlayOf (recorded in the overlay; default: read from the base), or the new disk's for size alone (default qcow2).",
    ).optional(),
    readOnly: allowing(z.boolean(), "expected true or false").describe(
      "Attach the disk read-only. Default false.",
    ).optional(),
    interface: allowing(
      z.enum(INTERFACES),
      `expected ${INTERFACES.map((i) => `"${i}"`).join(", ")}`,
    ).describe(
      "How the guest sees the disk: virtio-blk (default), scsi (virtio-scsi), nvme, ide or usb.",
    ).optional(),
  }).superRefine((disk, ctx) => {
    const given = ["image", "overlayOf", "size"].filter((k) =>
      (disk as Record<string, unknown>)[k] !== undefined
    );
    if (given.length === 0) {
      problem(
        ctx,
        "no image, overlayOf or size",
        "expected image: FILE, overlayOf: BASE (an overlay vmkit makes) or size: SIZE (a new disk)",
      );
    } else if (disk.image !== undefined && disk.overlayOf !== undefined) {
      problem(
        ctx,
        "image and overlayOf are both given",
        "expected one of them: image attaches the file itself, overlayOf an overlay over it",
        ["overlayOf"],
      );
    } else if (disk.image !== undefined && disk.size !== undefined) {
      problem(
        ctx,
        "size cannot be given with image",
        "expected image alone (resize the file with vmkit img resize), or size with overlayOf",
        ["size"],
      );
    }
  }),
  "expected a mapping with image, overlayOf or size, and format, readOnly, interface",
).describe("A disk: an image file, an overlay over a base image, or a new blank disk.");

const portSchema = (min: number, what: string) =>
  allowing(
    z.number().int().min(min).max(65535),
    `expected a port from ${min} to 65535${min === 0 ? " (0: a free port picked at start)" : ""}`,
  ).describe(what);

const forwardSchema = allowing(
  z.union([
    allowing(
      z.string().regex(FORWARD_TEXT).superRefine((text, ctx) => {
        const forward = readForward(text);
        if (forward === undefined) return; // the pattern's problem
        const { address, host, guest } = forward;
        if (address !== undefined && address.split(".").some((b) => Number(b) > 255)) {
          problem(ctx, `${JSON.stringify(address)} is not an IPv4 address`, FORWARD_ALLOWED);
        } else if (host > 65535) {
          problem(ctx, `host port ${host} is too large`, "expected a port from 0 to 65535");
        } else if (guest < 1 || guest > 65535) {
          problem(ctx, `guest port ${guest} is out of range`, "expected a port from 1 to 65535");
        }
      }),
      FORWARD_ALLOWED,
      "a forward",
    ),
    allowing(
      z.strictObject({
        host: portSchema(0, "The host port; 0 picks a free one when the VM starts."),
        guest: portSchema(1, "The guest port."),
        protocol: allowing(z.enum(["tcp", "udp"]), 'expected "tcp" or "udp"').describe(
          "The protocol. Default tcp.",
        ).optional(),
        address: allowing(
          z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
          'expected an IPv4 address such as "127.0.0.1" (or "0.0.0.0" for every address)',
          "an IPv4 address",
        ).describe("The host address to listen on. Default 127.0.0.1; 0.0.0.0 for every address.")
          .optional(),
      }),
      FORWARD_ALLOWED,
    ),
  ]),
  FORWARD_ALLOWED,
).describe(
  'A host port forwarded to a guest port: "2222:22", "127.0.0.1:8080:80", "5353:53/udp", or { host, guest, protocol, address }.',
);

const NETWORK_ALLOWED =
  'expected "user", "none", or a mapping with forwards, restrict, hostname (user-mode networking)';

const networkSchema = allowing(
  z.union([
    allowing(z.enum(["user", "none"]), NETWORK_ALLOWED),
    allowing(
      z.strictObject({
        forwards: allowing(z.array(forwardSchema), "expected a list of forwards").describe(
          'Host ports forwarded to guest ports, such as ["2222:22"].',
        ).optional(),
        restrict: allowing(z.boolean(), "expected true or false").describe(
          "Isolate the guest: it reaches neither the host nor the outside; the forwards still work.",
        ).optional(),
        hostname: allowing(
          z.string().regex(/^[A-Za-z0-9.-]{1,63}$/),
          'expected a host name: up to 63 letters, digits, "." and "-"',
          "a host name",
        ).describe(
          "The host name the DHCP server gives the guest.",
        ).optional(),
      }),
      NETWORK_ALLOWED,
    ),
  ]),
  NETWORK_ALLOWED,
).describe(
  'The network card: "user" (user-mode networking: the guest reaches out through QEMU, no privileges), "none", or user-mode networking with forwards. Default: no network card (ssh adds a user network).',
);

const shareSchema = allowing(
  z.strictObject({
    host: hostPath("The host directory to share (over virtio-9p, served by QEMU)."),
    tag: allowing(
      z.string().regex(/^[A-Za-z0-9_.-]{1,31}$/),
      'expected 1 to 31 letters, digits, "_", "." or "-"',
      "a mount tag",
    ).describe(
      "The name the guest mounts it by: mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt.",
    ),
    readOnly: allowing(z.boolean(), "expected true or false").describe(
      "The guest can read but not write it. Default false.",
    ).optional(),
  }),
  "expected a mapping with host and tag",
).describe("A host directory shared with the guest over virtio-9p.");

/** cloud-init data given as a mapping (written as YAML) or as text, passed as it is. */
function cloudData(what: string, description: string) {
  return allowing(
    z.union([z.string(), z.record(z.string(), z.unknown())]),
    `expected ${what} as a mapping (written as YAML), or as text`,
  ).describe(description);
}

const seedSchema = allowing(
  z.strictObject({
    userData: cloudData(
      "user-data",
      "cloud-init user-data: a #cloud-config mapping written here as YAML, or text passed as it is (#cloud-config..., a #! script). Default an empty #cloud-config.",
    ).optional(),
    metaData: allowing(z.record(z.string(), z.unknown()), "expected a mapping").describe(
      "meta-data: instance-id, local-hostname (NoCloud) or ConfigDrive's meta_data.json fields.",
    ).optional(),
    networkConfig: cloudData(
      "network-config",
      "NoCloud's network-config (version 1 or 2), a mapping or YAML text.",
    ).optional(),
    networkData: allowing(z.record(z.string(), z.unknown()), "expected a mapping").describe(
      "ConfigDrive's network_data.json (with format: configdrive).",
    ).optional(),
    vendorData: cloudData("vendor-data", "vendor-data, as userData.").optional(),
    format: allowing(z.enum(["nocloud", "configdrive"]), 'expected "nocloud" or "configdrive"')
      .describe("nocloud (default, label cidata) or configdrive (OpenStack's config-2).")
      .optional(),
    via: allowing(z.enum(["disk", "http"]), 'expected "disk" or "http"').describe(
      "How the seed reaches the guest: disk (default, a read-only virtio disk) or http (served to a guest on user-mode networking, NoCloud only).",
    ).optional(),
  }),
  "expected a mapping with userData, metaData, networkConfig, vendorData, format, via",
).describe(
  "A cloud-init seed made at start (NoCloud or ConfigDrive). With ssh, it also gives the guest the VM's login key and host key.",
);

const SSH_ALLOWED = "expected true, false or a mapping with user and identity";

const sshSchema = allowing(
  z.union([
    allowing(z.boolean(), SSH_ALLOWED),
    allowing(
      z.strictObject({
        user: allowing(
          z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/),
          'expected a Linux user name: lower-case letters, digits, "_" and "-", at most 32',
          "a user name",
        ).describe(
          "The user to log in as. Default vmkit: a user the seed makes, with the VM's key and passwordless sudo. Another name gets the key as the image's default user (debian, ubuntu...).",
        ).optional(),
        identity: hostPath(
          "A private key to log in with instead of one made for the VM; its public key is IDENTITY.pub.",
        ).optional(),
      }),
      SSH_ALLOWED,
    ),
  ]),
  SSH_ALLOWED,
).describe(
  "Log into the guest over SSH: a key made for the VM and given to the guest by the seed (so seed is needed), and a forward from a free host port to guest port 22 on the user network (added when there is none).",
);

const kernelSchema = allowing(
  z.union([
    hostPath("The kernel image."),
    allowing(
      z.strictObject({
        path: hostPath("The kernel image."),
        initrd: hostPath("The initial ramdisk.").optional(),
        append: allowing(
          z.string().regex(ONE_LINE),
          "expected the kernel command line, as one line of text (no newline or NUL)",
          "a single line",
        ).describe(
          "The kernel command line; vmkit's fast profile puts its own options (console, quiet) first.",
        ).optional(),
      }),
      "expected a mapping with path, initrd and append",
    ),
  ]),
  "expected the path of a kernel image, or a mapping with path, initrd and append",
).describe(
  "A kernel booted directly, without firmware or boot loader: its path, or { path, initrd, append }. Not with guest.",
);

/** The top-level fields of a definition. */
const fields = {
  $schema: allowing(z.string(), "expected the path or URL of a JSON Schema").describe(
    "The JSON Schema of this file, for editors of JSON definitions; vmkit ignores it.",
  ).optional(),
  extends: allowing(z.string().min(1), PATH_ALLOWED).describe(
    "Another definition this one builds on, relative to this file: its fields are the defaults; mappings merge field by field, and a list or value written here replaces its own.",
  ).optional(),
  arch: allowing(z.enum(ARCH_NAMES), ARCH_ALLOWED)
    .transform((name): Arch =>
      Object.hasOwn(ARCH_ALIASES, name)
        ? ARCH_ALIASES[name as keyof typeof ARCH_ALIASES]
        : name as Arch
    )
    .describe(
      "The guest architecture: x86_64, aarch64, riscv64, s390x or ppc64le (amd64, x64, arm64 and ppc64el, as Debian and Docker name them, are read as those). Default: the host's.",
    ).optional(),
  cpus: allowing(z.number().int().min(1).max(4096), "expected a whole number from 1 to 4096")
    .describe(
      "Virtual CPUs, at most what the machine takes (x86_64's q35: 288; aarch64's virt: 8 under TCG, 512 with gic-version=3). Default 1.",
    ).optional(),
  memory: memorySchema.optional(),
  accel: allowing(z.enum(["auto", "kvm", "tcg"]), 'expected "auto", "kvm" or "tcg"').describe(
    "The accelerator: auto (default) uses KVM where KVM guests run, TCG otherwise; the VMKIT_ACCEL environment variable overrides auto. kvm is refused where KVM cannot run the guest.",
  ).optional(),
  firmware: allowing(z.enum(["bios", "uefi"]), 'expected "bios" or "uefi"').describe(
    "The firmware: bios (SeaBIOS) or uefi (OVMF, AAVMF), found through QEMU's firmware descriptors. Default: QEMU's for a disk boot, vmkit's fastest for a kernel boot.",
  ).optional(),
  guest: allowing(z.enum(["tiny"]), 'expected "tiny"').describe(
    "A guest vmkit provides. tiny: a busybox initramfs and a Linux kernel (Debian's cloud kernel, or the host's), made by scripts/setup.sh, booted directly (with agent: true, its variant with the QEMU guest agent). It needs memory of at least 80M (96M with the agent; 64M on aarch64) and cannot mount shares (its kernel has no 9p). Not with kernel.",
  ).optional(),
  kernel: kernelSchema.optional(),
  disks: allowing(z.array(diskSchema), "expected a list of disks").describe(
    "The disks, in order: the first is the guest's /dev/vda on virtio-blk.",
  ).optional(),
  seed: seedSchema.optional(),
  network: networkSchema.optional(),
  shares: allowing(z.array(shareSchema), "expected a list of shares").describe(
    "Host directories shared with the guest, over virtio-9p: the guest's kernel needs 9p (the tiny guest's has none).",
  ).optional(),
  agent: allowing(z.boolean(), "expected true or false").describe(
    "The QEMU guest agent's channel (org.qemu.guest_agent.0): vmkit runs commands and copies files through qemu-ga in the guest. With guest: tiny, the tiny guest's variant that has qemu-ga.",
  ).optional(),
  ssh: sshSchema.optional(),
  args: allowing(
    z.array(
      allowing(
        z.string().regex(ONE_LINE),
        "expected a QEMU argument: one line of text (no newline or NUL)",
        "a single line",
      ),
    ),
    "expected a list of QEMU arguments, as text",
  ).describe(
    'More QEMU arguments, appended as they are after everything vmkit writes (the escape hatch), such as ["-device", "virtio-rng-pci"].',
  ).optional(),
};

/** The schema of a VM definition (YAML or JSON). */
export const vmDefinitionSchema = allowing(
  z.strictObject(fields).superRefine((def, ctx) => checkTogether(def, ctx)),
  "expected a mapping of fields: arch, cpus, memory, disks...",
).describe(
  "A vmkit VM definition: vmkit run FILE, vmkit start NAME FILE, vmkit validate FILE, vmkit show FILE.",
);

/**
 * A VM definition, as `loadDefinition` returns it: checked, `extends` followed and dropped,
 * paths absolute.
 */
export type VmDefinition = z.infer<typeof vmDefinitionSchema>;
