/**
 * `vmkit binfmt status|register|reset|check`: QEMU user-mode emulators in binfmt_misc, so
 * binaries of other architectures run as if native. `register` takes the flags of QEMU's
 * `qemu-binfmt-conf.sh` (and of `recipes/register-emulators.ts`).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import type { RegisterFlags } from "../_binfmt_register.ts";

/** A yes|no flag of qemu-binfmt-conf.sh: alone it means yes. */
function yesNoOption(command: Command, flags: string, description: string): Command {
  return command.option(flags, `${description} (alone: yes)`);
}

/**
 * Adds `vmkit binfmt`.
 *
 * @param program The `vmkit` program.
 */
export function registerBinfmt(program: Command): void {
  const group = program.command("binfmt")
    .summary("register QEMU user-mode emulators with binfmt_misc, and check them")
    .description(
      "QEMU user-mode emulators in binfmt_misc: binaries of other architectures run as if native. Changing entries needs root. (Compiled vmkit needs its full permissions here: Deno treats /proc as privileged.)",
    )
    .addHelpText(
      "after",
      `
Examples:
  vmkit binfmt status
  sudo vmkit binfmt register --arch aarch64 --arch riscv64 -p yes
  sudo vmkit binfmt register --reset -p yes           # qemu-user-static --reset -p yes
  vmkit binfmt register --systemd ALL -e ./binfmt.d   # files for systemd-binfmt
  vmkit binfmt check aarch64 riscv64`,
    );

  group.command("status")
    .description("List binfmt_misc's entries: name, enabled, QEMU target, interpreter, flags.")
    .option("--name-prefix <prefix>", "only entries whose name starts with this")
    .option("--json", "print JSON: mountPoint, enabled, entries")
    .addHelpText(
      "after",
      "\nExamples:\n  vmkit binfmt status --name-prefix qemu-\n  vmkit binfmt status --json",
    )
    .action(async (flags: { namePrefix?: string; json?: boolean }) => {
      const { binfmtStatus } = await import("../_binfmt_actions.ts");
      await binfmtStatus(flags);
    });

  const register = group.command("register")
    .description(
      "Register QEMU's emulators (default: every foreign target whose emulator is installed), then prove each one by running a tiny program of its architecture; or write systemd/Debian files (-s/-d). Exits 1 when any failed. The flags are qemu-binfmt-conf.sh's.",
    )
    .option(
      "--arch <target>",
      "register TARGET (repeatable); one vmkit's table lacks is read from Debian's /usr/share/binfmts/qemu-TARGET",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--reset", "remove every PREFIX* entry first");
  yesNoOption(register, "-p, --persistent [yes|no]", "F flag: load the emulator now (static only)");
  yesNoOption(register, "-c, --credential [yes|no]", "C flag: setuid/capabilities of the binary");
  yesNoOption(register, "-g, --preserve-argv0 [yes|no]", "P flag: pass argv[0] through");
  yesNoOption(
    register,
    "-i, --ignore-family [yes|no]",
    "also the host's family (i386 on x86_64), not the host itself",
  );
  register
    .option("-Q, --qemu-path <dir>", "where the emulators are (default /usr/bin)")
    .option(
      "-F, --qemu-suffix <suffix>",
      'emulator name suffix (default "-static" when only that exists)',
    )
    .option("--host-arch <machine>", "act as if uname -m were MACHINE")
    .option("--name-prefix <prefix>", 'entry names are PREFIX<target> (default "qemu-")')
    .option(
      "-s, --systemd <target>",
      "write binfmt.d files instead: TARGET, ALL, or a directory (with a /)",
    )
    .option(
      "-d, --debian [target]",
      "write update-binfmts templates instead: TARGET, ALL, or a directory (with a /)",
    )
    .option(
      "-e, --exportdir <dir>",
      "where -s/-d files go (default /etc/binfmt.d, /usr/share/binfmts)",
    )
    .option("--dry-run", "print what would be registered or written; change nothing")
    .option("--json", "print the results as JSON: removed, results, ok")
    .addHelpText(
      "after",
      `
Examples:
  sudo vmkit binfmt register --arch aarch64 -p yes -F -static
  vmkit binfmt register --dry-run --arch riscv64 --qemu-path=/opt/qemu
  vmkit binfmt register --debian ALL -e /tmp/binfmts
A yes|no flag given alone means yes; -pyes and --persistent=yes work too. A value follows its
flag after a space or "=" and may start with "-" (-F -static, -F-static).`,
    )
    .action(async (flags: RegisterFlags & { json?: boolean }) => {
      const { binfmtRegister } = await import("../_binfmt_actions.ts");
      await binfmtRegister(flags);
    });

  group.command("reset")
    .description("Remove every entry whose name starts with the prefix (default qemu-).")
    .option("--name-prefix <prefix>", 'which entries (default "qemu-")')
    .option("--json", "print the removed names as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  sudo vmkit binfmt reset\n  sudo vmkit binfmt reset --name-prefix my-",
    )
    .action(async (flags: { namePrefix?: string; json?: boolean }) => {
      const { binfmtReset } = await import("../_binfmt_actions.ts");
      await binfmtReset(flags);
    });

  group.command("check")
    .description(
      "Prove targets work: run a tiny static program of each (default: every foreign target vmkit has one for) through the kernel. Exits 1 when one is broken or unregistered.",
    )
    .argument("[targets...]", "QEMU targets, like aarch64 riscv64")
    .option("--json", "print JSON: working, emulators, results")
    .addHelpText("after", "\nExamples:\n  vmkit binfmt check\n  vmkit binfmt check aarch64 --json")
    .action(async (targets: string[], flags: { json?: boolean }) => {
      const { binfmtCheck } = await import("../_binfmt_actions.ts");
      await binfmtCheck(targets, flags);
    });
}
