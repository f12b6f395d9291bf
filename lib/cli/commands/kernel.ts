/**
 * `vmkit kernel BZIMAGE [-- CMD...]`: boots a kernel with vmkit's tiny initramfs (busybox and
 * vmkit's init), as vmtest's `vmtest -k bzImage CMD` and virtme-ng's `vng -r KERNEL -- CMD` do;
 * runs CMD as the guest's only job and exits with its status, or gives a shell on the console.
 * What it does is in `../_kernel_run.ts`, loaded when it runs.
 *
 * @module
 */

import { type Command, Option } from "npm:commander@^14.0.3";
import { archFlag, cpusFlag, memoryFlag, timeoutFlag } from "../_flags.ts";
import type { KernelFlags } from "../_kernel_run.ts";

const EXAMPLES = `
Examples:
  vmkit kernel arch/x86/boot/bzImage -- uname -r
  vmkit kernel bzImage --modules /tmp/mods -- sh -c 'modprobe foo && ./run-test.sh'
  vmkit kernel -k bzImage 'cat /proc/cmdline'          # vmtest's spelling
  vmkit kernel -r arch/arm64/boot/Image --arch arm64 -m 1G -p 2 -- true   # vng's spelling
  vmkit kernel bzImage                                  # a shell on the console; Ctrl-] stops

The command runs as the guest's only job (stdin /dev/null); its output, with the kernel's
messages meanwhile, comes on stdout as the guest prints it, and vmkit exits with its status
(128+N when signal N killed it). One word is a shell command line; several words are a program
and its arguments. A kernel panic exits 125 with the panic line. Ctrl-C shuts the guest down
(the job gets SIGHUP and SIGTERM, the filesystems are unmounted) and exits 130.
Modules come from --modules (a lib/modules/RELEASE directory, or an INSTALL_MOD_PATH root),
else from the tiny guest when it is the same release, else from /lib/modules/RELEASE; a kernel
without them needs CONFIG_VIRTIO_PCI=y and CONFIG_VIRTIO_CONSOLE=y (and on aarch64 the virt
machine's drivers) built in.`;

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
      const { runKernel } = await import("../_kernel_run.ts");
      await runKernel(command, flags);
    });
}
