// Whether a definition, valid in itself, can run here: CPUs the machine takes, memory the host
// can give, a kernel file for the guest's architecture, KVM where it was asked for, and what
// vmkit's tiny guest can do. Each is what QEMU or the guest would otherwise fail on after the
// definition was called valid.

import { readKernelImage } from "../_kernel_image.ts";
import { tinyGuest } from "../../guest/tiny_guest.ts";
import { binarySize } from "../../_size.ts";
import { chooseAccel } from "../../vm/accel.ts";
import type { Arch } from "../../vm/arch.ts";
import { detectHostFacts } from "../../vm/_host.ts";
import { hostArch } from "./_build.ts";
import { cpuLimit } from "./_cpu_limit.ts";
import { hostMemory } from "./_host_memory.ts";
import type { FieldProblem } from "./_issues.ts";
import { tinyGuestFloor, tinyGuestNo9p } from "./_tiny_guest_limits.ts";
import type { VmDefinition } from "./schema.ts";

const MIB = 2 ** 20;

/** The accelerator the VM will run with: the one named, or what auto picks here. */
function accelOf(def: VmDefinition, arch: Arch): "kvm" | "tcg" {
  if (def.accel === "kvm" || def.accel === "tcg") return def.accel;
  try {
    return chooseAccel(arch, detectHostFacts()).accel;
  } catch {
    return "tcg"; // a bad VMKIT_ACCEL: launch says so
  }
}

/** The guest's memory in bytes, when given. */
function memoryBytes(memory: VmDefinition["memory"]): number | undefined {
  if (memory === undefined) return undefined;
  if (typeof memory === "number") return memory * MIB;
  const read = binarySize(memory, MIB);
  return "bytes" in read ? read.bytes : undefined;
}

/** How a definition writes a memory size it was given. */
function shownMemory(memory: NonNullable<VmDefinition["memory"]>): string {
  return typeof memory === "number" ? String(memory) : JSON.stringify(memory);
}

function checkCpus(def: VmDefinition, arch: Arch): FieldProblem[] {
  if (def.cpus === undefined) return [];
  const limit = cpuLimit(arch, accelOf(def, arch), def.args ?? []);
  if (def.cpus <= limit.max) return [];
  return [{
    path: ["cpus"],
    wrong: `${def.cpus} is more than the ${arch} machine takes${
      limit.when === undefined ? "" : ` ${limit.when}`
    } (${limit.machine})`,
    allowed: `expected at most ${limit.max}${limit.more === undefined ? "" : `; ${limit.more}`}`,
  }];
}

function checkMemory(def: VmDefinition, arch: Arch): FieldProblem[] {
  const memory = def.memory;
  const bytes = memoryBytes(memory);
  if (memory === undefined || bytes === undefined) return [];
  const host = hostMemory();
  if (host !== undefined && bytes > host.limit) {
    return [{
      path: ["memory"],
      wrong: `${shownMemory(memory)} is more than this host can give a VM (${host.reason})`,
      allowed: `expected at most ${Math.floor(host.limit / MIB)}M; QEMU could not allocate more`,
    }];
  }
  if (def.guest === "tiny" && (arch === "x86_64" || arch === "aarch64")) {
    const agent = def.agent === true;
    const floor = tinyGuestFloor(arch, agent);
    if (bytes < floor.mib * MIB) {
      return [{
        path: ["memory"],
        wrong: `${shownMemory(memory)} is too little for the ${arch} tiny guest${
          agent ? " with the agent" : ""
        }`,
        allowed: `expected at least ${floor.mib}M${
          floor.measured === undefined
            ? ""
            : ` (it boots in ${floor.measured}M at the least; with less, its kernel runs out of memory)`
        }`,
      }];
    }
  }
  return [];
}

/** The architectures whose kernel formats `_kernel_image.ts` knows all of. */
const KNOWN_FORMATS: readonly Arch[] = ["x86_64", "aarch64", "riscv64"];

/** A kernel's architecture in vmkit's words (an x86_64 QEMU boots i386 kernels too). */
function fits(kernelArch: string, arch: Arch): boolean {
  if (kernelArch === arch) return true;
  return (arch === "x86_64" && kernelArch === "i386") ||
    (arch === "ppc64le" && kernelArch === "ppc64");
}

async function checkKernel(def: VmDefinition, arch: Arch): Promise<FieldProblem[]> {
  const kernel = def.kernel;
  if (kernel === undefined) return [];
  const [path, field] = typeof kernel === "string"
    ? [kernel, ["kernel"]]
    : [kernel.path, ["kernel", "path"]];
  let image;
  let size;
  try {
    size = (await Deno.stat(path)).size;
    image = await readKernelImage(path);
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotCapable
    ) {
      return []; // the path's own check says so, or QEMU will
    }
    throw error;
  }
  if (image === undefined) {
    if (!KNOWN_FORMATS.includes(arch)) return [];
    return [{
      path: field,
      wrong: `${JSON.stringify(path)} ${
        size === 0
          ? "is empty"
          : "is not a Linux kernel image (no bzImage, ELF, arm64 or RISC-V Image, or PE header)"
      }`,
      allowed: arch === "aarch64"
        ? "expected a kernel such as arch/arm64/boot/Image, vmlinux or Debian's vmlinuz"
        : "expected a kernel such as arch/x86/boot/bzImage, vmlinux or Debian's vmlinuz",
    }];
  }
  if (fits(image.arch, arch)) return [];
  const mayBe = ["x86_64", "aarch64", "riscv64", "s390x", "ppc64le"].includes(image.arch);
  return [{
    path: field,
    wrong: `${
      JSON.stringify(path)
    } is a kernel for ${image.arch} (${image.format}), and the VM is ${
      def.arch === undefined ? `${arch} (the host's: arch is not given)` : arch
    }`,
    allowed: `expected a kernel for ${arch}${mayBe ? `, or arch: ${image.arch}` : ""}`,
  }];
}

function checkAccel(def: VmDefinition, arch: Arch): FieldProblem[] {
  if (def.accel !== "kvm") return [];
  const facts = detectHostFacts();
  // Only what is known to fail: without --allow-all Deno cannot look, and QEMU will say.
  if (facts.kvm === "unknown") return [];
  if ((facts.machine === "x86_64" || facts.machine === "i686") && facts.cpuFlags === undefined) {
    return [];
  }
  const choice = chooseAccel(arch, { ...facts, override: undefined });
  if (choice.accel === "kvm") return [];
  return [{
    path: ["accel"],
    wrong: `KVM cannot run this VM here: ${choice.reason}`,
    allowed: `expected "auto" (KVM where it works, else TCG) or "tcg"`,
  }];
}

async function checkShares(def: VmDefinition, arch: Arch): Promise<FieldProblem[]> {
  if (def.guest !== "tiny" || (def.shares ?? []).length === 0) return [];
  if (arch !== "x86_64" && arch !== "aarch64") return [];
  let why;
  try {
    why = await tinyGuestNo9p(await tinyGuest(arch, { agent: def.agent === true }));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof TypeError) {
      return []; // no tiny guest: the builder says so
    }
    throw error;
  }
  if (why === undefined) return [];
  const flavour = arch === "x86_64" ? "amd64" : "arm64";
  return [{
    path: ["shares"],
    wrong: `the ${arch} tiny guest cannot mount 9p shares: ${why}`,
    allowed:
      `expected no shares with guest: tiny (vmkit cp copies files in through the agent), or kernel: { path, initrd } in place of guest: a kernel with 9p (such as Debian's linux-image-${flavour}${
        arch === "x86_64" ? ", not its cloud flavour" : ""
      }) and an initrd that loads 9p and 9pnet_virtio`,
  }];
}

/**
 * The problems of a checked definition (paths absolute) that only this host, its QEMU and its
 * files show.
 *
 * @param def The definition.
 * @returns One problem per field that cannot work here.
 */
export async function fitProblems(def: VmDefinition): Promise<FieldProblem[]> {
  const arch = def.arch ?? hostArch();
  return [
    ...checkCpus(def, arch),
    ...checkMemory(def, arch),
    ...checkAccel(def, arch),
    ...await checkKernel(def, arch),
    ...await checkShares(def, arch),
  ];
}
