/**
 * `vmkit kernel BZIMAGE [-- CMD...]`: boots a kernel with vmkit's tiny initramfs (busybox and
 * vmkit's init), as vmtest's `vmtest -k bzImage CMD` and virtme-ng's `vng -r KERNEL -- CMD` do;
 * runs CMD as the guest's only job and exits with its status, or gives a shell on the console
 * and exits with the shell's.
 * What it does is in `../_kernel_run.ts`, loaded when it runs.
 *
 * @module
 */

import { type Command, Option } from "npm:commander@^14.0.3";
import { archFlag, cpusFlag, memoryFlag, timeoutFlag } from "../_flags.ts";
import type { KernelFlags } from "../_kernel_run.ts";
import { shellQuote } from "../../vm/qemu_opts.ts";
import { CliError } from "../errors.ts";
import { EXIT } from "../exit_codes.ts";

/**
 * The least memory vmkit kernel boots a guest in, in MiB. Measured with the tiny guest under
 * TCG: its x86_64 vmlinux (Debian 6.1, loaded at 16 MiB to 62 MiB) resets the machine at once
 * at 48M (QEMU exits before the job's status), panics "System is deadlocked on memory" from 64M
 * to 73M, sometimes at 74M, and runs a job and the console shell from 75M with about 10 MiB
 * free; its bzImage needs 76M (at 64M QEMU exits, at 68M the initramfs does not fit); the
 * aarch64 Image needs 60M. 80M leaves a few MiB to spare.
 */
const MIN_MEMORY_MIB = 80;

/**
 * Reads `-m/--memory` as every command does, and refuses less than the tiny initramfs boots in.
 *
 * @param value The flag's value.
 * @returns The size, as `"<MiB>M"`.
 * @throws {CliError} (usage) For a size that is not one, or less than 80M.
 */
function kernelMemoryFlag(value: string): string {
  const size = memoryFlag(value);
  const mib = parseInt(size);
  if (mib < MIN_MEMORY_MIB) {
    throw new CliError(
      `Cannot use --memory ${
        JSON.stringify(value)
      }: that is ${mib} MiB, and vmkit kernel's guest needs at least ${MIN_MEMORY_MIB}M (the tiny guest's kernel panics or does not start with less); give -m ${MIN_MEMORY_MIB}M or more${
        /^\s*\d+(\.\d+)?\s*$/.test(value)
          ? "; a number without a unit is MiB, and the unit goes in the same word: 1G, not 1 GB"
          : ""
      }`,
      EXIT.usage,
    );
  }
  return size;
}

/**
 * The kernel and the words after it before `--`, from the words of the whole command line
 * (`["kernel", "vmlinux", "uname", "-r"]`): kernel's own options (and their values) are left
 * out until the first word that is neither, which starts the command; from there every word is
 * the command's.
 */
function commandWords(
  raw: readonly string[],
  command: Command,
): { kernel?: string; words: string[] } {
  const takesValue = (word: string): boolean | undefined => {
    const option = command.options.find((o) =>
      o.long === word || o.short === word || (o.long !== undefined && word.startsWith(`${o.long}=`))
    );
    if (option !== undefined) return option.required && !word.includes("=");
    // A short option with its value in the same word (-m512M).
    const short = command.options.find((o) => o.short === word.slice(0, 2));
    return short?.required ? false : undefined;
  };
  let kernel: string | undefined;
  const words: string[] = [];
  for (let i = raw.indexOf("kernel") + 1; i < raw.length && raw[i] !== "--"; i++) {
    const word = raw[i];
    if (words.length === 0 && word.startsWith("-")) {
      const value = takesValue(word);
      if (value === undefined) continue;
      if (["-k", "--kernel", "-r", "--run"].includes(word) && i + 1 < raw.length) {
        kernel = raw[i + 1];
      }
      if (value) i++;
      continue;
    }
    if (kernel === undefined) kernel = word;
    else words.push(word);
  }
  return kernel === undefined ? { words } : { kernel, words };
}

/**
 * commander's "unknown option" and "argument missing" for a guest command typed without `--`
 * (`vmkit kernel vmlinux uname -r`: -r is vng's kernel option) as the hint to put it after
 * `--`, as `vmkit run` gives it; other errors as they are.
 */
function usageError(text: string, command: Command): string {
  const found = /^error: unknown option '([^']+)'/.exec(text)?.[1] ??
    /^error: option '([^']+)' argument missing/.exec(text)?.[1];
  if (found === undefined) return text;
  const flags = found.match(/--?[^\s,<[]+/g) ?? [];
  let root = command;
  while (root.parent !== null) root = root.parent;
  const raw = (root as unknown as { rawArgs?: unknown }).rawArgs;
  const { kernel, words } = commandWords(Array.isArray(raw) ? raw : [], command);
  const start = words.findIndex((word) => !word.startsWith("-"));
  const misplaced = start >= 0 &&
    words.slice(start + 1).some((word) =>
      flags.some((flag) => word === flag || word.startsWith(`${flag}=`))
    );
  if (!misplaced) return text;
  return `vmkit: Cannot tell the command from the kernel: ${
    JSON.stringify(words)
  } before --; put the command after -- (vmkit kernel's own options, such as -m, -a and -r, go before it), as in: vmkit kernel ${
    kernel === undefined ? "KERNEL" : shellQuote(kernel)
  } -- ${words.slice(start).map(shellQuote).join(" ")}\n`;
}

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
(the job gets SIGHUP and SIGTERM, the filesystems are unmounted) and exits 130. When the
reader of stdout goes away (| head -1), the guest is shut down and vmkit exits 141, as a tool
SIGPIPE killed, without a message. Without CMD, the console is on the terminal and vmkit
exits with the shell's status when it exits (exit 5 gives 5); poweroff and Ctrl-] give 0.
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
  const kernel = program.command("kernel");
  kernel
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
    .option(
      "-m, --memory <size>",
      `guest memory, like 512M or 2G (default 512M, at least ${MIN_MEMORY_MIB}M)`,
      kernelMemoryFlag,
    )
    .option("--timeout <seconds>", "kill the VM after this long (90, 5m); exit 125", timeoutFlag)
    .option("-e, --exec <command>", "the command as one shell line (vng's -e)")
    .addHelpText("after", EXAMPLES)
    .configureOutput({ outputError: (text, write) => write(usageError(text, kernel)) })
    .action(async (_kernel: unknown, _words: unknown, flags: KernelFlags, command: Command) => {
      const { runKernel } = await import("../_kernel_run.ts");
      await runKernel(command, flags);
    });
}
