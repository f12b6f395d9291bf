// What every device kind of the generic device list provides: a check of its description,
// its plan, and optionally files it reads and a process it needs beside QEMU.

import type { ArchProfile } from "../arch.ts";
import type { Field } from "../_validate.ts";
import type { PlanContext, Step } from "./_plan.ts";

/** A host path a VM needs before QEMU starts. */
export interface InputFile {
  /** What it is: `drive "disk0"`, `9p share "src"`. */
  what: string;
  /** The path. */
  path: string;
  /** What to do when it is missing. */
  hint?: string;
  /** A regular file or device (default), a directory, or anything (a socket). */
  expect?: "file" | "directory" | "any";
}

/** Something a device needs running beside QEMU (swtpm), stopped when the VM is released. */
export interface Sidecar {
  /** What it is, for errors. */
  readonly what: string;
  /** Stops it and removes what it made; never throws. */
  stop(): Promise<void>;
}

/**
 * What devices learn while they are prepared at launch, in the registry's order: later devices
 * and the command line read it (the SSH key goes into the cloud-init seed; the seed server's
 * port into the SMBIOS serial).
 */
export interface LaunchFacts {
  /**
   * The VM's SSH login: the key pair made (or given) for it, the user, and the host key the
   * seed gives the guest (private key text and public key line).
   */
  ssh?: {
    privateKey: string;
    publicKey: string;
    user: string;
    hostKey: { privateKey: string; publicKey: string };
    /** Whether the seed gave the guest `hostKey`; if not, it is learned from the console. */
    hostKeyGiven?: boolean;
  };
  /** The host port the cloud-init seed is served on, for a seed served over HTTP. */
  seedPort?: number;
}

/** A device kind of the generic device list (`VmBuilder.device`). */
export interface DeviceKind<D extends { kind: string }> {
  /** The fields a description may have besides `kind`. */
  readonly keys: readonly string[];
  /** Whether a VM has at most one: adding another replaces it. */
  readonly single?: boolean;
  /** Whether its devices go before the hotplug root ports on the command line. */
  readonly early?: boolean;
  /**
   * Checks a description; `arch` refuses what the architecture cannot have. Machine-type
   * conflicts are found by {@linkcode DeviceKind.plan}.
   */
  parse(value: Record<string, unknown>, field: Field, arch: Readonly<ArchProfile>): D;
  /** The boot steps of the `index`-th device of this kind. */
  plan(device: D, ctx: PlanContext, index: number): Step[];
  /** Ids the device takes (checked for clashes with every other id of the VM). */
  ids?(device: D, index: number): string[];
  /**
   * Other values that must be unique in a VM, each named as a user would: `9p tag "src"`,
   * `port name "org.qemu.guest_agent.0"`, `PCIe chassis 40 slot 0`.
   */
  unique?(device: D, index: number): string[];
  /**
   * Host files it needs, which must exist before QEMU starts; `hint` says what to do when one
   * is missing (`load the vhost_vsock module: modprobe vhost_vsock`).
   */
  inputs?(device: D): InputFile[];
  /**
   * Checks the host beyond the existence of `inputs` before QEMU starts (a PCI device bound to
   * vfio-pci), throwing with what to do.
   */
  preflight?(device: D): Promise<void>;
  /**
   * Starts or makes what it needs beside QEMU, in the runtime directory, before the command
   * line is written; it may add to `facts`, which later devices and the plans read.
   */
  prepare?(device: D, runtimeDir: string, index: number, facts: LaunchFacts): Promise<Sidecar>;
}
