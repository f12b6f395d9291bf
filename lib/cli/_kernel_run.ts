// What `vmkit kernel` does, loaded only when it runs (the command's file holds its flags and
// help, so `vmkit --help` does not load the VM library): read the kernel's header, pick or build
// its initramfs, then run CMD as the guest's job or attach the console.

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { status } from "./_output.ts";
import { GUEST_ARCHES, type GuestArch } from "./_flags.ts";
import { readKernelImage } from "./_kernel_image.ts";
import { kernelInitrd } from "./_kernel_initrd.ts";
import { cliTinyGuest } from "./_guest_cache.ts";
import { Interrupt } from "./_interrupt.ts";
import { guestJobStatus, guestShellStatus } from "./_guest_command.ts";
import { splitAtDashes } from "./_command_words.ts";
import { vm } from "../vm/builder.ts";

/** The guest's memory without -m, as vmkit kernel's help says. */
const DEFAULT_MEMORY = "512M";

/** The flags of `vmkit kernel`, as commander gives them. */
export interface KernelFlags {
  kernel?: string;
  run?: string;
  modules?: string;
  append?: string;
  kargs?: string;
  arch?: GuestArch;
  cpus?: number;
  memory?: string;
  timeout?: number;
  exec?: string;
}

/**
 * Splits the operands into the kernel and the command: before `--` the kernel (unless -k/-r
 * named it) and vmtest's one-word command; after `--` the command's words.
 */
function splitOperands(
  command: Command,
  flags: KernelFlags,
): { kernel?: string; words: string[] } {
  const { before, after: trailing } = splitAtDashes(command, command.args);
  const named = flags.kernel ?? flags.run;
  if (flags.kernel !== undefined && flags.run !== undefined && flags.kernel !== flags.run) {
    throw new CliError(
      `Cannot boot two kernels: -k/--kernel "${flags.kernel}" and -r/--run "${flags.run}"; give one`,
      EXIT.usage,
    );
  }
  const kernel = named ?? before.shift();
  const sources = [
    before.length > 0 ? "before --" : undefined,
    trailing.length > 0 ? "after --" : undefined,
    flags.exec !== undefined ? "--exec" : undefined,
  ].filter((source) => source !== undefined);
  if (sources.length > 1) {
    throw new CliError(
      `Cannot tell which command to run: words ${sources.join(" and ")} (${
        JSON.stringify(before.concat(trailing).concat(flags.exec ?? []))
      }); put the command after -- alone, as in: vmkit kernel BZIMAGE [options] -- CMD...`,
      EXIT.usage,
    );
  }
  const words = flags.exec !== undefined ? [flags.exec] : before.length > 0 ? before : trailing;
  return kernel === undefined ? { words } : { kernel, words };
}

/** The kernel's architecture, checked against --arch and the tiny guest's. */
async function kernelArch(
  path: string,
  wanted: GuestArch | undefined,
): Promise<{ arch: GuestArch; release?: string }> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `Cannot boot kernel "${path}": the file does not exist (the path is read from ${Deno.cwd()})`,
        EXIT.usage,
      );
    }
    throw new CliError(`Cannot boot kernel "${path}": ${(error as Error).message}`, EXIT.usage);
  }
  if (!stat.isFile) {
    throw new CliError(
      `Cannot boot kernel "${path}": it is not a file; give the kernel image (arch/x86/boot/bzImage, arch/arm64/boot/Image)`,
      EXIT.usage,
    );
  }
  const image = await readKernelImage(path);
  if (image === undefined) {
    throw new CliError(
      `Cannot boot kernel "${path}": it is not a Linux kernel image (no bzImage header, ELF, arm64 Image or PE header); give arch/x86/boot/bzImage, vmlinux, or arch/arm64/boot/Image of a kernel build`,
      EXIT.usage,
    );
  }
  const found = image.arch as GuestArch;
  if (!(GUEST_ARCHES as readonly string[]).includes(found)) {
    throw new CliError(
      `Cannot boot kernel "${path}": it is a kernel for ${image.arch} (${image.format}), and vmkit kernel boots ${
        GUEST_ARCHES.join(" and ")
      } kernels`,
      EXIT.usage,
    );
  }
  if (wanted !== undefined && wanted !== found) {
    throw new CliError(
      `Cannot boot kernel "${path}" as ${wanted}: it is a kernel for ${found} (${image.format}); drop --arch, or give a kernel for ${wanted}`,
      EXIT.usage,
    );
  }
  return image.version === undefined ? { arch: found } : { arch: found, release: image.version };
}

/**
 * Runs `vmkit kernel`.
 *
 * @param command The command (its operands, and where `--` was).
 * @param flags Its flags.
 * @throws {CliError} For every failure, with its exit status.
 */
export async function runKernel(command: Command, flags: KernelFlags): Promise<void> {
  const { kernel, words } = splitOperands(command, flags);
  if (kernel === undefined) {
    throw new CliError(
      "Cannot boot a kernel: name its file, as in: vmkit kernel arch/x86/boot/bzImage -- CMD",
      EXIT.usage,
    );
  }
  const { arch, release } = await kernelArch(kernel, flags.arch);
  const job = words.length === 0 ? undefined : words.length === 1 ? words[0] : words;
  if (typeof job === "string" && job.trim() === "") {
    throw new CliError("Cannot run an empty command in the guest: give one after --", EXIT.usage);
  }
  const notRun = job === undefined ? EXIT.failure : EXIT.guestCommandNotRun;
  const guest = await cliTinyGuest(arch).catch((error) => {
    throw new CliError((error as Error).message, notRun, { cause: error });
  });
  const workDir = await Deno.makeTempDir({ prefix: "vmkit-kernel-" });
  using interrupt = new Interrupt();
  try {
    status(`vmkit: ${arch} kernel${release === undefined ? "" : ` ${release}`} from ${kernel}`);
    const initrd = await kernelInitrd(guest, release, { modules: flags.modules, workDir });
    status(
      initrd.modulesDir === undefined
        ? "vmkit: no modules for this kernel; its virtio drivers must be built in"
        : `vmkit: modules from ${initrd.modulesDir}`,
    );
    const append = [flags.append, flags.kargs].filter((a) => a !== undefined).join(" ");
    const memory = flags.memory ?? DEFAULT_MEMORY;
    let builder = vm({ arch }).memory(memory)
      .kernel(kernel, { initrd: initrd.path, ...(append === "" ? {} : { append }) })
      .noReboot();
    if (flags.cpus !== undefined) builder = builder.smp(flags.cpus);
    status("vmkit: booting");
    // memoryFlag gives "<MiB>M".
    const guestMemory = { mib: parseInt(memory), option: "-m" };
    if (job === undefined) {
      Deno.exitCode = await guestShellStatus(builder, {
        signal: interrupt.signal,
        memory: guestMemory,
      });
      return;
    }
    Deno.exitCode = await guestJobStatus(builder, job, {
      signal: interrupt.signal,
      memory: guestMemory,
      timeout: flags.timeout,
      noStatusPort: initrd.modulesDir === undefined
        ? "build the kernel with CONFIG_VIRTIO_PCI=y and CONFIG_VIRTIO_CONSOLE=y, or give its modules with --modules DIR"
        : `the modules of ${initrd.modulesDir} lack virtio_console or virtio_pci`,
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message, notRun, { cause: error });
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}
