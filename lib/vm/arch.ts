/**
 * Architecture profiles: which QEMU, machine, CPU, console and virtio transport each guest
 * architecture uses.
 *
 * @module
 */

/** Guest architectures vmkit knows. */
export type Arch = "x86_64" | "aarch64" | "riscv64" | "s390x" | "ppc64le";

/** How virtio devices attach: `-device virtio-blk-pci`, `-device virtio-blk-device`, `...-ccw`. */
export type VirtioTransport = "pci" | "mmio" | "ccw";

/** Everything vmkit needs to know to build an argv for one architecture. */
export interface ArchProfile {
  /** The architecture. */
  arch: Arch;
  /** QEMU system emulator binary. */
  binary: string;
  /** Debian package that provides the binary. */
  debianPackage: string;
  /** Machine type of the fast profile. */
  fastMachine: string;
  /** Machine type of the classic profile (QEMU's default for the binary, or the usual one). */
  classicMachine: string;
  /** CPU model under KVM. */
  kvmCpu: string;
  /** CPU model under TCG. */
  tcgCpu: string;
  /** Kernel console device of serial port 0. */
  console: string;
  /** Virtio transport of the fast profile. */
  fastTransport: VirtioTransport;
  /** Virtio transport of the classic profile. */
  classicTransport: VirtioTransport;
  /** Kernel command-line additions of the fast profile. */
  fastAppend: string;
  /** Further fast-profile kernel options, only under TCG (they would cost time under KVM). */
  tcgAppend: string;
  /**
   * Further fast-profile kernel options under TCG only for a guest with one CPU that can get
   * no more (no `maxcpus` above 1): they save boot time there and would cost an SMP guest.
   */
  tcgUniprocessorAppend: string;
  /**
   * Firmware (`-bios`) of the fast profile when it boots a kernel directly on its own machine
   * type; QEMU's default firmware otherwise.
   */
  fastKernelFirmware?: string;
  /** `uname -m` values of hosts that can run this guest under KVM. */
  kvmHosts: readonly string[];
  /** Whether `-device pvpanic` (ISA) or `pvpanic-pci` exists for the machine. */
  pvpanic: "isa" | "pci" | "none";
}

const QUIET = "quiet panic=-1";

// TCG executes no instruction speculatively, so the kernel's Spectre and Meltdown mitigations
// defend against nothing there and only cost time (retpolines, return-stack filling on every
// context switch). The tiny guest's boot did not move, but the Debian guest's userspace did:
// with this and RDRAND (below) it reached ssh in 40 and 42 s against 53 and 49 s without
// either, in alternating boots (43 and 44 s with this alone).
const TCG_NO_SPECULATION = "mitigations=off";

/** The profiles, by architecture. */
export const ARCH_PROFILES: Readonly<Record<Arch, Readonly<ArchProfile>>> = {
  x86_64: {
    arch: "x86_64",
    binary: "qemu-system-x86_64",
    debianPackage: "qemu-system-x86",
    fastMachine: "q35",
    classicMachine: "pc",
    kvmCpu: "host",
    // kvm64: qemu64's features without AMD's SVM, as an Intel CPU. qemu64 (QEMU's default)
    // advertises SVM and is an AMD family 15 (K8): udev then loads kvm and kvm_amd (0.85 s of
    // guest CPU under TCG, for nested virtualization that would crawl there; `.cpu()` still asks
    // for it) and tries powernow_k8 on each CPU (0.2 s each, failing), while cloud-init starts.
    // Alternating 4 rounds, the Debian guest reached ssh in 21.4-26.5 s (median 23.0) against
    // 22.1-30.5 s (median 26.2).
    // RDRAND lets the kernel seed its random generator at boot (with random.trust_cpu=on); TCG
    // emulates it from the host's getrandom. Without it the kernel's generator was ready only
    // 9-12 s into the Debian guest's boot, while its services started: the guest reached ssh in
    // 47 and 41 s with it, 53 and 49 s without, alternating.
    // ("max" has it too, but also 5-level paging, whose longer page walks cost TCG more.)
    tcgCpu: "kvm64,+rdrand",
    console: "ttyS0",
    fastTransport: "pci",
    classicTransport: "pci",
    // noreplace-smp: a one-CPU guest would otherwise rewrite every lock prefix of the kernel,
    // one text_poke each (about 0.2 s under TCG).
    fastAppend:
      `${QUIET} tsc=reliable no_timer_check noreplace-smp cryptomgr.notests random.trust_cpu=on`,
    tcgAppend: TCG_NO_SPECULATION,
    // noapictimer: under TCG there is no TSC deadline timer, so the kernel would spend about
    // 0.1 s calibrating the local APIC timer against the PIT; the HPET drives the tick instead.
    // Without a local APIC timer no CPU gets a one-shot clock event device: every CPU ticks
    // periodically and timers have jiffy resolution. One CPU does not notice (idle QEMU took
    // 12 ms of host CPU a second either way, a hundred 1 ms sleeps 0.9 s), but on two CPUs the
    // second ticks by HPET broadcast: idle cost 82 ms a second against 21 without it, the
    // sleeps 1.9 s against 1.05 s, and the Debian guest's systemd and cloud-init crawled.
    tcgUniprocessorAppend: "noapictimer",
    // qboot only loads the kernel QEMU hands it (no disks, no option ROMs), in a few ms; SeaBIOS
    // takes about 50 ms more under TCG.
    fastKernelFirmware: "qboot.rom",
    kvmHosts: ["x86_64"],
    pvpanic: "isa",
  },
  aarch64: {
    arch: "aarch64",
    binary: "qemu-system-aarch64",
    debianPackage: "qemu-system-arm",
    fastMachine: "virt",
    classicMachine: "virt",
    kvmCpu: "host",
    // Emulating pointer authentication (QARMA) dominates an aarch64 boot under TCG: the tiny
    // guest takes 12.6 s with plain "max" and 2.9 s without it.
    tcgCpu: "max,pauth=off",
    console: "ttyAMA0",
    fastTransport: "pci",
    classicTransport: "pci",
    fastAppend: `${QUIET} cryptomgr.notests`,
    tcgAppend: TCG_NO_SPECULATION,
    tcgUniprocessorAppend: "",
    kvmHosts: ["aarch64"],
    pvpanic: "pci",
  },
  riscv64: {
    arch: "riscv64",
    binary: "qemu-system-riscv64",
    debianPackage: "qemu-system-misc",
    fastMachine: "virt",
    classicMachine: "virt",
    kvmCpu: "host",
    tcgCpu: "rv64",
    console: "ttyS0",
    fastTransport: "pci",
    classicTransport: "pci",
    fastAppend: QUIET,
    tcgAppend: "",
    tcgUniprocessorAppend: "",
    kvmHosts: ["riscv64"],
    pvpanic: "pci",
  },
  s390x: {
    arch: "s390x",
    binary: "qemu-system-s390x",
    debianPackage: "qemu-system-misc",
    fastMachine: "s390-ccw-virtio",
    classicMachine: "s390-ccw-virtio",
    kvmCpu: "host",
    tcgCpu: "qemu",
    console: "ttysclp0",
    fastTransport: "ccw",
    classicTransport: "ccw",
    fastAppend: QUIET,
    tcgAppend: "",
    tcgUniprocessorAppend: "",
    kvmHosts: ["s390x"],
    pvpanic: "none",
  },
  ppc64le: {
    arch: "ppc64le",
    binary: "qemu-system-ppc64",
    debianPackage: "qemu-system-ppc",
    fastMachine: "pseries",
    classicMachine: "pseries",
    kvmCpu: "host",
    tcgCpu: "power9",
    console: "hvc0",
    fastTransport: "pci",
    classicTransport: "pci",
    fastAppend: QUIET,
    tcgAppend: "",
    tcgUniprocessorAppend: "",
    kvmHosts: ["ppc64le"],
    pvpanic: "pci",
  },
};

/**
 * The profile of an architecture.
 *
 * @param arch The guest architecture.
 * @returns Its profile.
 * @throws {TypeError} When vmkit does not know the architecture.
 */
export function archProfile(arch: string): Readonly<ArchProfile> {
  if (!Object.hasOwn(ARCH_PROFILES, arch)) {
    throw new TypeError(
      `Cannot build a VM for arch ${JSON.stringify(arch)}: use one of ${
        Object.keys(ARCH_PROFILES).map((a) => `"${a}"`).join(", ")
      }`,
    );
  }
  return ARCH_PROFILES[arch as Arch];
}

/** What {@linkcode fastKernelAppend} needs to know of a VM. */
export interface FastAppendOptions {
  /** The accelerator the VM runs under (`undefined` while it is not decided: no TCG options). */
  accel?: "kvm" | "tcg";
  /** CPUs at boot. Default 1. */
  cpus?: number;
  /** CPUs it can have with hotplug (`-smp maxcpus=`). Default `cpus`. */
  maxCpus?: number;
}

/**
 * The fast profile's kernel options for a VM, after `console=` and before the user's own:
 * the profile's, those for TCG, and those only for a guest that has one CPU and can get no more.
 *
 * @param p The architecture profile.
 * @param options The accelerator and the CPU counts.
 * @returns The options, space-separated (empty when there are none).
 *
 * @example
 * ```ts
 * import { archProfile, fastKernelAppend } from "@vmkit/vmkit";
 * const x86 = archProfile("x86_64");
 * console.log(fastKernelAppend(x86, { accel: "tcg" }).includes("noapictimer")); // true
 * console.log(fastKernelAppend(x86, { accel: "tcg", cpus: 2 }).includes("noapictimer")); // false
 * ```
 */
export function fastKernelAppend(
  p: Readonly<ArchProfile>,
  options: FastAppendOptions = {},
): string {
  const cpus = options.cpus ?? 1;
  const uniprocessor = cpus <= 1 && (options.maxCpus ?? cpus) <= 1;
  return [
    p.fastAppend,
    options.accel === "tcg" ? p.tcgAppend : "",
    options.accel === "tcg" && uniprocessor ? p.tcgUniprocessorAppend : "",
  ].filter(Boolean).join(" ");
}
