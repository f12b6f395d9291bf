/**
 * `vmkit kernel BZIMAGE [-- CMD...]`: boots a kernel with vmkit's tiny initramfs (busybox and
 * vmkit's init), as vmtest's `vmtest -k bzImage CMD` and virtme-ng's `vng -r KERNEL -- CMD` do;
 * runs CMD as the guest's only job and exits with its status, or gives a shell on the console.
 *
 * @module
 */

import { type Command, Option } from "npm:commander@^14.0.3";
import { CliError } from "../errors.ts";
import { EXIT } from "../exit_codes.ts";
import { status } from "../_output.ts";
import {
  archFlag,
  cpusFlag,
  GUEST_ARCHES,
  type GuestArch,
  memoryFlag,
  timeoutFlag,
} from "../_flags.ts";
import { readKernelImage } from "../_kernel_image.ts";
import { kernelInitrd } from "../_kernel_initrd.ts";
import { cliTinyGuest } from "../_guest_cache.ts";
import { Interrupt } from "../_interrupt.ts";
import { guestJobStatus } from "../_guest_command.ts";
import { attachConsole } from "../_console_attach.ts";
import { vm } from "../../vm/builder.ts";
import { GUEST_READY_LINE } from "../../guest/default_init.ts";
import { KERNEL_PANIC_LINE } from "../../vm/_vm_failure.ts";

interface KernelFlags {
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

const EXAMPLES = `
Examples:
  vmkit kernel arch/x86/boot/bzImage -- uname -r
  vmkit kernel bzImage --modules /tmp/mods -- sh -c 'modprobe foo && ./run-test.sh'
  vmkit kernel -k bzImage 'cat /proc/cmdline'          # vmtest's spelling
  vng-style: vmkit kernel -r arch/arm64/boot/Image --arch arm64 -m 1G -p 2 -- true
  vmkit kernel bzImage                                  # a shell on the console; Ctrl-] stops

The command runs as the guest's only job (stdin /dev/null, output on the console) and vmkit
exits with its status (128+N when signal N killed it). One word is a shell command line;
several words are a program and its arguments. A kernel panic exits 125 with the panic line.
Modules come from --modules (a lib/modules/RELEASE directory, or an INSTALL_MOD_PATH root),
else from the tiny guest when it is the same release, else from /lib/modules/RELEASE; a kernel
without them needs CONFIG_VIRTIO_PCI=y and CONFIG_VIRTIO_CONSOLE=y (and on aarch64 the virt
machine's drivers) built in.`;

/** The root command, whose raw arguments show where `--` was. */
function rootOf(command: Command): Command {
  let root = command;
  while (root.parent !== null) root = root.parent;
  return root;
}

/**
 * Splits the operands into the kernel and the command: before `--` the kernel (unless -k/-r
 * named it) and vmtest's one-word command; after `--` the command's words.
 */
function splitOperands(
  command: Command,
  flags: KernelFlags,
): { kernel?: string; words: string[] } {
  const operands = command.args;
  // commander keeps the words it parsed (rawArgs, not in its typings) but drops the "--".
  const raw = (rootOf(command) as unknown as { rawArgs?: unknown }).rawArgs;
  const dashes = Array.isArray(raw) ? raw.indexOf("--") : -1;
  const after = dashes < 0 ? 0 : (raw as string[]).length - dashes - 1;
  const before = operands.slice(0, operands.length - after);
  const trailing = operands.slice(operands.length - after);
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

async function runKernel(command: Command, flags: KernelFlags): Promise<void> {
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
    status(`vmkit: ${arch} kernel ${release ?? ""} from ${kernel}`.replace("  ", " "));
    const initrd = await kernelInitrd(guest, release, { modules: flags.modules, workDir });
    status(
      initrd.modulesDir === undefined
        ? "vmkit: no modules for this kernel; its virtio drivers must be built in"
        : `vmkit: modules from ${initrd.modulesDir}`,
    );
    const append = [flags.append, flags.kargs].filter((a) => a !== undefined).join(" ");
    let builder = vm({ arch }).memory(flags.memory ?? "512M")
      .kernel(kernel, { initrd: initrd.path, ...(append === "" ? {} : { append }) })
      .noReboot();
    if (flags.cpus !== undefined) builder = builder.smp(flags.cpus);
    if (job === undefined) {
      await interactive(builder, interrupt.signal);
      return;
    }
    status("vmkit: booting");
    Deno.exitCode = await guestJobStatus(builder, job, {
      signal: interrupt.signal,
      timeout: flags.timeout,
      hasModules: initrd.modulesDir !== undefined,
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message, notRun, { cause: error });
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

/** No command: the console on the terminal until the guest powers off. */
async function interactive(
  builder: ReturnType<typeof vm>,
  signal: AbortSignal,
): Promise<void> {
  status("vmkit: booting");
  await using machine = await builder.launch({ signal });
  const end = await attachConsole(machine.console, { signal, readyLine: GUEST_READY_LINE });
  if (end !== "exited") await machine.shutdown();
  if (end === "aborted") throw signal.reason;
  const exit = await machine.exited;
  const panic = KERNEL_PANIC_LINE.exec(machine.console.transcript);
  if (panic !== null) {
    throw new CliError(`The guest kernel panicked: ${panic[0].trim()}`, EXIT.failure);
  }
  if (end === "exited" && !exit.success) {
    throw new CliError(
      `QEMU exited with code ${exit.code}${
        machine.stderr.trim() === "" ? "" : `: ${machine.stderr.trim()}`
      }`,
      EXIT.failure,
    );
  }
}

/**
 * Adds `vmkit kernel`.
 *
 * @param program The `vmkit` program.
 */
export function registerKernel(program: Command): void {
  program.command("kernel")
    .summary("boot a kernel with vmkit's tiny initramfs, run a command, exit with its status")
    .description(
      "Boot a Linux kernel (bzImage, vmlinux, arm64 Image) with vmkit's busybox initramfs, as vmtest and virtme-ng (vng) do; run CMD as the guest's only job and exit with its status, or give a shell on the console without CMD.",
    )
    .argument("[kernel]", "the kernel image (or give it with -k/-r)")
    .argument("[command...]", "the command to run in the guest, after --")
    .option("-k, --kernel <file>", "the kernel image (vmtest's -k)")
    .option("-r, --run <file>", "the kernel image (vng's -r)")
    .option("--modules <dir>", "the kernel's modules: lib/modules/RELEASE, or INSTALL_MOD_PATH")
    .option("-a, --append <args>", "more kernel command line")
    .addOption(new Option("--kargs <args>", "more kernel command line (vmtest)").hideHelp())
    .option("--arch <arch>", "x86_64 or aarch64 (default: the kernel's)", archFlag)
    .option("-p, --cpus <n>", "virtual CPUs (default 1)", cpusFlag)
    .option("-m, --memory <size>", "guest memory, like 512M or 2G (default 512M)", memoryFlag)
    .option("--timeout <seconds>", "kill the VM after this long (90, 5m); exit 125", timeoutFlag)
    .option("-e, --exec <command>", "the command as one shell line (vng's -e)")
    .addHelpText("after", EXAMPLES)
    .action(async (_kernel: unknown, _words: unknown, flags: KernelFlags, command: Command) => {
      await runKernel(command, flags);
    });
}
