// The most virtual CPUs the machine a definition boots takes. QEMU says it only when it starts
// ("Invalid SMP CPUs 4096. The max CPUs supported by machine 'pc-q35-7.2' is 288"), and
// `-machine help` does not list it, so the limits of the machines vmkit uses (the fast
// profile's, lib/vm/arch.ts) are kept here, as QEMU 7.2's query-machines reports them
// (`cpu-max`) and as starting QEMU confirmed.

import type { Arch } from "../../vm/arch.ts";

/** The limit, and what sets it. */
export interface CpuLimit {
  /** The most CPUs. */
  max: number;
  /** The machine that sets it, in words: `QEMU's q35`. */
  machine: string;
  /** Under what it is so, when not always: `under TCG`. */
  when?: string;
  /** How to get more, when there is a way. */
  more?: string;
}

/** `cpu-max` of each architecture's machine, from QEMU 7.2's `query-machines`. */
const MACHINE_CPUS: Readonly<Record<Arch, CpuLimit>> = {
  x86_64: { max: 288, machine: "QEMU's q35" },
  aarch64: { max: 512, machine: "QEMU's virt" },
  riscv64: { max: 512, machine: "QEMU's virt" },
  s390x: { max: 248, machine: "QEMU's s390-ccw-virtio" },
  // query-machines says 4096, but QEMU fails to build the device tree of 4096 CPUs
  // (FDT_ERR_NOSPACE); 1024 start.
  ppc64le: { max: 1024, machine: "QEMU's pseries, whose device tree overflows beyond 1024" },
};

/** Whether `args` picks a GIC that takes more than 8 CPUs: `-machine gic-version=3`. */
function largeGic(args: readonly string[]): boolean {
  return args.some((arg) => /(^|,)gic-version=(3|4|max|host)(,|$)/.test(arg));
}

/**
 * The most CPUs a definition's machine takes.
 *
 * @param arch The guest architecture.
 * @param accel The accelerator it will run with (on aarch64, TCG's default GIC takes 8).
 * @param args The definition's extra QEMU arguments (`-machine gic-version=3`).
 * @returns The limit.
 */
export function cpuLimit(arch: Arch, accel: "kvm" | "tcg", args: readonly string[]): CpuLimit {
  if (arch === "aarch64" && accel === "tcg" && !largeGic(args)) {
    // Under TCG QEMU gives virt a GICv2 unless told otherwise, and a GICv2 serves 8 CPUs (under
    // KVM it picks a GICv3 itself when more are asked for).
    return {
      max: 8,
      machine: "QEMU's virt, whose default GICv2 serves 8",
      when: "under TCG",
      more: 'args: ["-machine", "gic-version=3"] takes up to 512',
    };
  }
  return MACHINE_CPUS[arch];
}
