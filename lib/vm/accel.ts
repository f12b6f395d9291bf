/**
 * Choosing the accelerator: KVM only where KVM guests will really run.
 *
 * @module
 */

import { type Arch, archProfile } from "./arch.ts";

/** Accelerator requested of a builder. */
export type AccelRequest = "auto" | "kvm" | "tcg";

/** What `auto` decided, and why. */
export interface AccelChoice {
  /** The accelerator used. */
  accel: "kvm" | "tcg";
  /** One sentence on why. */
  reason: string;
}

/** What the host looks like, for {@linkcode chooseAccel}. */
export interface HostFacts {
  /** `uname -m` of the host. */
  machine: string;
  /**
   * Whether `/dev/kvm` exists and opened; `"unknown"` when Deno may not look (without
   * `--allow-all` it opens no device, and without read access it cannot even stat it); or why
   * it did not open.
   */
  kvm: "ok" | "missing" | "unknown" | { error: string };
  /** CPU flags from `/proc/cpuinfo` (x86 only; `undefined` when unreadable). */
  cpuFlags?: ReadonlySet<string>;
  /** The `VMKIT_ACCEL` override, if set. */
  override?: string;
}

/**
 * Decides between KVM and TCG for a guest. KVM is chosen only when the guest has the host's
 * architecture, `/dev/kvm` opens, and (on x86) the CPU advertises `vmx` or `svm`: a nested
 * machine can expose `/dev/kvm` without them, and KVM guests there hang.
 *
 * @param guest The guest architecture.
 * @param host What the host looks like (see `detectHostFacts`).
 * @returns The choice and the reason.
 * @throws {TypeError} When `VMKIT_ACCEL` holds something other than kvm, tcg or auto.
 *
 * @example
 * ```ts
 * import { chooseAccel } from "@vmkit/vmkit";
 * const choice = chooseAccel("x86_64", { machine: "x86_64", kvm: "ok", cpuFlags: new Set(["vmx"]) });
 * console.log(choice.accel); // "kvm"
 * ```
 */
export function chooseAccel(guest: Arch, host: HostFacts): AccelChoice {
  if (host.override !== undefined && host.override !== "" && host.override !== "auto") {
    if (host.override !== "kvm" && host.override !== "tcg") {
      throw new TypeError(
        `Cannot use VMKIT_ACCEL=${JSON.stringify(host.override)}: use "kvm", "tcg" or "auto"`,
      );
    }
    return { accel: host.override, reason: `VMKIT_ACCEL=${host.override}` };
  }
  const profile = archProfile(guest);
  if (!profile.kvmHosts.includes(host.machine)) {
    return { accel: "tcg", reason: `the ${guest} guest differs from the ${host.machine} host` };
  }
  if (host.kvm === "missing") return { accel: "tcg", reason: "/dev/kvm does not exist" };
  if (typeof host.kvm === "object") {
    return { accel: "tcg", reason: `/dev/kvm cannot be opened: ${host.kvm.error}` };
  }
  const device = host.kvm === "ok"
    ? "/dev/kvm opens"
    : "/dev/kvm is assumed usable (Deno may inspect devices only with --allow-all)";
  if (host.machine === "x86_64" || host.machine === "i686") {
    if (host.cpuFlags === undefined) {
      return {
        accel: "tcg",
        reason: `KVM was not checked: Deno may not read ${
          host.kvm === "unknown" ? "/dev/kvm or /proc/cpuinfo" : "/proc/cpuinfo"
        } (it reads /proc and opens devices only with --allow-all); run with --allow-all to check, or force KVM with VMKIT_ACCEL=kvm or .accel("kvm")`,
      };
    }
    if (!host.cpuFlags.has("vmx") && !host.cpuFlags.has("svm")) {
      return {
        accel: "tcg",
        reason:
          `${device} but the CPU lacks vmx/svm (nested without virtualization), so KVM guests would hang`,
      };
    }
  }
  return { accel: "kvm", reason: `${device} and the CPU supports virtualization` };
}
