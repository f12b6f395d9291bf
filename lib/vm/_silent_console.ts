/**
 * Why a guest's serial console may stay silent, read from QEMU's command line, for the note a
 * readiness timeout adds when the console printed nothing.
 *
 * @module
 */

import type { ArchProfile } from "./arch.ts";

/**
 * What on the command line would keep the serial console silent: a kernel line that sends
 * `/dev/console` elsewhere, or an x86 VM that boots its disks through SeaBIOS.
 *
 * @param argv QEMU's arguments.
 * @param p The architecture profile (its serial console's name).
 * @returns The cause in words, or `undefined` when the command line shows none.
 */
export function silentConsoleCause(
  argv: readonly string[],
  p: Readonly<ArchProfile>,
): string | undefined {
  if (argv.includes("-kernel")) {
    const at = argv.lastIndexOf("-append");
    const append = at >= 0 ? argv[at + 1] ?? "" : "";
    const consoles = [...append.matchAll(/(?:^|\s)console=([^\s,]+)/g)].map((m) => m[1]);
    const last = consoles.at(-1);
    if (last === undefined) {
      // x86 kernels print on the first virtual terminal then; device trees name the serial port.
      return p.arch === "x86_64"
        ? `the kernel line has no console=: the kernel and init print on the screen, not the serial port vmkit reads (${p.console}); add console=${p.console}`
        : undefined;
    }
    if (last === p.console) return undefined;
    return `the kernel line's last console= is ${last}: /dev/console, where init and its services print, is not the serial port vmkit reads (${p.console}); put console=${p.console} last`;
  }
  const firmware = argv.includes("-bios") ||
    argv.some((arg) => /(?:^|,)pflash0=|(?:^|,)if=pflash(?:,|$)/.test(arg));
  if (firmware || p.arch !== "x86_64") return undefined;
  return `the VM has no kernel, so QEMU's SeaBIOS boots its disks: it prints nothing on the serial port and starts only a BIOS boot loader, so a UEFI-only disk needs .firmware("uefi")`;
}
