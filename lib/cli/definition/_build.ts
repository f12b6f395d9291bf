// A definition turned into builder calls, one field at a time, so a field the builder refuses
// is named (`loadDefinition` tries every definition this way before it is used).

import { checkTimeout } from "../../_deadline.ts";
import { pathExists } from "../../_fs.ts";
import { createImage } from "../../image/create.ts";
import { tinyGuest } from "../../guest/tiny_guest.ts";
import type { Arch } from "../../vm/arch.ts";
import { vm, type VmBuilder } from "../../vm/builder.ts";
import type { HostForward, NetworkOptions } from "../../vm/devices/network.ts";
import type { ImageFormat } from "../../vm/image_format.ts";
import type { FieldPath } from "./_source.ts";
import { readForward } from "./_forward.ts";
import type { VmDefinition } from "./schema.ts";

/** A field the builder (or making its disk) refused. */
export class StepFailure extends Error {
  override readonly name = "StepFailure";
  /** The field. */
  readonly path: FieldPath;
  /** What was thrown. */
  readonly error: unknown;

  constructor(path: FieldPath, error: unknown) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
    this.path = path;
    this.error = error;
  }
}

/** Options of {@linkcode buildDefinition}. */
export interface BuildOptions {
  /** Where the disks the VM makes are (overlays, new disks). */
  diskDir: string;
  /** Make the disks that are not there yet; `false` makes nothing. */
  create: boolean;
  /** Cancels making disks. */
  signal?: AbortSignal;
  /** Time limit for making all disks, in ms. */
  timeout?: number;
}

type Forward = NonNullable<
  Exclude<NonNullable<VmDefinition["network"]>, string>["forwards"]
>[number];

/** A forward as the builder takes it: `"2222:22"` → `{ hostPort: 2222, guestPort: 22 }`. */
function hostForward(written: Forward): HostForward {
  const forward = typeof written === "string" ? readForward(written) : written;
  if (forward === undefined) {
    throw new TypeError(
      `Cannot read forward ${JSON.stringify(written)}: write HOST:GUEST, such as "2222:22"`,
    );
  }
  return {
    hostPort: forward.host,
    guestPort: forward.guest,
    ...forward.address === undefined ? {} : { hostAddress: forward.address },
    ...forward.protocol === undefined ? {} : { protocol: forward.protocol },
  };
}

/** The network as the builder takes it. */
function networkOf(network: NonNullable<VmDefinition["network"]>): "none" | NetworkOptions {
  if (network === "none") return "none";
  if (network === "user") return { type: "user" };
  return {
    type: "user",
    ...network.forwards === undefined ? {} : { forwards: network.forwards.map(hostForward) },
    ...network.restrict === undefined ? {} : { restrict: network.restrict },
    ...network.hostname === undefined ? {} : { hostname: network.hostname },
  };
}

/** The host's architecture, the default one. */
export function hostArch(): Arch {
  return Deno.build.arch;
}

/**
 * The file a disk the VM makes is kept in: `disk0.qcow2` for the first disk, and so on.
 *
 * @param diskDir The VM's disk directory.
 * @param index The disk's place in `disks`.
 * @param format Its format.
 * @returns The path.
 */
export function madeDiskPath(diskDir: string, index: number, format: ImageFormat): string {
  return `${diskDir}/disk${index}.${format === "raw" ? "raw" : "qcow2"}`;
}

/** Runs one field's step, naming the field when it fails. */
async function step<T>(path: FieldPath, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StepFailure(path, error);
  }
}

/**
 * Builds the VM of a definition.
 *
 * @param def The definition, paths absolute.
 * @param options Disk directory, whether to make disks, signal and time limit.
 * @returns The builder.
 * @throws {StepFailure} Naming the field whose step failed.
 */
export async function buildDefinition(
  def: VmDefinition,
  options: BuildOptions,
): Promise<VmBuilder> {
  checkTimeout("make the VM's disks", options.timeout);
  const end = options.timeout === undefined ? undefined : performance.now() + options.timeout;
  const arch = def.arch ?? hostArch();
  let b = vm({ arch });
  if (def.cpus !== undefined) b = await step(["cpus"], () => b.smp(def.cpus!));
  if (def.memory !== undefined) b = await step(["memory"], () => b.memory(def.memory!));
  if (def.accel !== undefined) b = await step(["accel"], () => b.accel(def.accel!));
  if (def.firmware !== undefined) b = await step(["firmware"], () => b.firmware(def.firmware!));
  if (def.guest === "tiny") {
    if (arch !== "x86_64" && arch !== "aarch64") {
      throw new StepFailure(
        ["guest"],
        new TypeError(`the tiny guest exists for x86_64 and aarch64, not ${arch}`),
      );
    }
    const guest = await step(["guest"], () => tinyGuest(arch, { agent: def.agent === true }));
    b = b.kernel(guest.kernel, { initrd: guest.initrd });
  }
  const kernel = def.kernel;
  if (typeof kernel === "string") b = await step(["kernel"], () => b.kernel(kernel));
  else if (kernel !== undefined) {
    b = await step(["kernel"], () =>
      b.kernel(kernel.path, {
        ...kernel.initrd === undefined ? {} : { initrd: kernel.initrd },
        ...kernel.append === undefined ? {} : { append: kernel.append },
      }));
  }
  const disks = def.disks ?? [];
  for (const [i, disk] of disks.entries()) {
    const common = {
      ...disk.readOnly === undefined ? {} : { readOnly: disk.readOnly },
      ...disk.interface === undefined ? {} : { interface: disk.interface },
    };
    if (disk.image !== undefined) {
      const image = disk.image;
      b = await step(
        ["disks", i],
        () =>
          b.drive(image, {
            ...common,
            ...disk.format === undefined ? {} : { format: disk.format },
          }),
      );
      continue;
    }
    const format: ImageFormat = disk.overlayOf !== undefined ? "qcow2" : disk.format ?? "qcow2";
    const file = madeDiskPath(options.diskDir, i, format);
    if (options.create && !await pathExists(file)) {
      await Deno.mkdir(options.diskDir, { recursive: true });
      const timeout = end === undefined ? undefined : Math.max(0, end - performance.now());
      await createImage(file, {
        format,
        ...disk.size === undefined ? {} : { size: disk.size },
        ...disk.overlayOf === undefined ? {} : {
          backing: disk.overlayOf,
          ...disk.format === undefined ? {} : { backingFormat: disk.format },
        },
        ...options.signal === undefined ? {} : { signal: options.signal },
        ...timeout === undefined ? {} : { timeout },
      });
    }
    b = await step(["disks", i], () => b.drive(file, { ...common, format }));
  }
  if (def.network !== undefined) {
    const network = networkOf(def.network);
    b = await step(["network"], () => b.network(network));
  }
  for (const [i, share] of (def.shares ?? []).entries()) {
    b = await step(["shares", i], () =>
      b.device({
        kind: "9p",
        path: share.host,
        tag: share.tag,
        ...share.readOnly === undefined ? {} : { readOnly: share.readOnly },
      }));
  }
  const seed = def.seed;
  if (seed !== undefined) {
    b = await step(["seed"], () =>
      b.cloudInit({
        ...seed.userData === undefined ? {} : { userData: seed.userData },
        ...seed.metaData === undefined ? {} : { metaData: seed.metaData },
        ...seed.networkConfig === undefined ? {} : { networkConfig: seed.networkConfig },
        ...seed.networkData === undefined ? {} : { networkData: seed.networkData },
        ...seed.vendorData === undefined ? {} : { vendorData: seed.vendorData },
        ...seed.format === undefined ? {} : { format: seed.format },
        ...seed.via === undefined ? {} : { via: seed.via },
      }));
  }
  const ssh = def.ssh;
  if (ssh !== undefined && ssh !== false) {
    b = await step(["ssh"], () =>
      b.ssh(
        ssh === true ? {} : {
          ...ssh.user === undefined ? {} : { user: ssh.user },
          ...ssh.identity === undefined ? {} : { identity: ssh.identity },
        },
      ));
  }
  if (def.agent === true) b = await step(["agent"], () => b.guestAgent());
  if (def.args !== undefined && def.args.length > 0) {
    b = await step(["args"], () => b.arg(...def.args!));
  }
  return b;
}
