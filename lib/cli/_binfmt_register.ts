// `vmkit binfmt register`: qemu-binfmt-conf.sh's flags read into the options of
// lib/binfmt/register_emulators.ts (as recipes/register-emulators.ts reads them), and what it
// throws turned into the CLI's errors.

import * as binfmt from "../binfmt/mod.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { cliErrorOf } from "./_library_errors.ts";

/** The flags as commander gives them (yes|no flags: `true` alone, else the word). */
export interface RegisterFlags {
  arch: string[];
  reset?: boolean;
  persistent?: boolean | string;
  credential?: boolean | string;
  preserveArgv0?: boolean | string;
  ignoreFamily?: boolean | string;
  qemuPath?: string;
  qemuSuffix?: string;
  hostArch?: string;
  namePrefix?: string;
  systemd?: string;
  debian?: boolean | string;
  exportdir?: string;
  dryRun?: boolean;
}

/** What to do, read from the flags: the library's options, and what the CLI needs besides. */
export interface RegisterPlan
  extends binfmt.EmulatorTargetsOptions, binfmt.RegisterEmulatorsOptions {
  targets: string[];
  /** The target `--systemd` or `--debian` named (or `ALL`): an unknown one may mean a directory. */
  exportTarget?: string;
  dryRun: boolean;
}

function usage(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

function yesNo(value: boolean | string | undefined, spelled: string): boolean {
  if (value === undefined || value === false) return false;
  if (value === true || value === "yes") return true;
  if (value === "no") return false;
  throw usage(`Cannot use ${spelled} ${JSON.stringify(value)}: give yes or no`);
}

/**
 * Reads the flags into a plan, refusing what does not go together.
 *
 * @param flags The flags.
 * @returns The plan.
 * @throws {CliError} (usage) For a bad value or flags that exclude each other.
 */
export function registerPlan(flags: RegisterFlags): RegisterPlan {
  const qemuPath = flags.qemuPath ?? "/usr/bin";
  if (!qemuPath.startsWith("/")) {
    throw usage(
      `Cannot use --qemu-path ${
        JSON.stringify(qemuPath)
      }: the kernel needs an absolute path to the emulators`,
    );
  }
  const debian = flags.debian === undefined || flags.debian === false
    ? undefined
    : flags.debian === true
    ? ""
    : flags.debian;
  if (flags.systemd !== undefined && debian !== undefined) {
    throw usage("Cannot use --debian with --systemd: export one format at a time");
  }
  const exportName = flags.systemd !== undefined ? "--systemd" : "--debian";
  const exportValue = flags.systemd ?? debian;
  if (flags.exportdir !== undefined && exportValue === undefined) {
    throw usage(
      `Cannot use --exportdir ${
        JSON.stringify(flags.exportdir)
      }: it goes with --systemd or --debian`,
    );
  }
  if (exportValue !== undefined && flags.reset) {
    throw usage(
      `Cannot use --reset with ${exportName}: it removes kernel entries, and writing files does not touch the kernel`,
    );
  }
  const valueIsDir = exportValue?.includes("/") ?? false;
  if (valueIsDir && flags.exportdir !== undefined) {
    throw usage(
      `Cannot use --exportdir ${JSON.stringify(flags.exportdir)}: ${exportName} ${
        JSON.stringify(exportValue)
      } already names the directory`,
    );
  }
  const plan: RegisterPlan = {
    targets: [...flags.arch],
    reset: flags.reset ?? false,
    persistent: yesNo(flags.persistent, "--persistent"),
    credential: yesNo(flags.credential, "--credential"),
    preserveArgv0: yesNo(flags.preserveArgv0, "--preserve-argv0"),
    ignoreFamily: yesNo(flags.ignoreFamily, "--ignore-family"),
    qemuPath,
    machine: flags.hostArch ?? Deno.build.arch,
    namePrefix: flags.namePrefix ?? "qemu-",
    dryRun: flags.dryRun ?? false,
  };
  if (flags.qemuSuffix !== undefined) plan.qemuSuffix = flags.qemuSuffix;
  if (exportValue !== undefined) {
    const systemd = flags.systemd !== undefined;
    plan.exportTo = {
      format: systemd ? "systemd" : "debian",
      dir: valueIsDir
        ? exportValue
        : flags.exportdir ?? (systemd ? "/etc/binfmt.d" : "/usr/share/binfmts"),
    };
    const target = valueIsDir || exportValue === "" ? undefined : exportValue;
    if (target !== undefined) {
      plan.exportTarget = target;
      if (target !== "ALL") plan.targets.push(target);
    }
  }
  return plan;
}

/**
 * Picks the plan's targets, then registers (and proves), exports or only describes them.
 *
 * @param plan What to do.
 * @returns The entries removed by `--reset`, and one result per target.
 * @throws {CliError} For a target that cannot be used (usage), or a reset or export that failed.
 */
export async function registerEmulators(
  plan: RegisterPlan,
): Promise<binfmt.RegisterEmulatorsReport> {
  let targets: binfmt.EmulatorTarget[];
  try {
    targets = await binfmt.emulatorTargets(plan);
  } catch (error) {
    // `--systemd out` meant a directory in vmkit's older spelling.
    const name = plan.exportTarget;
    if (
      error instanceof binfmt.UnknownQemuTargetError && error.target === name &&
      !name.startsWith("-")
    ) {
      throw usage(`${error.message}; a directory needs a "/" (./${name})`);
    }
    throw cliErrorOf(error);
  }
  try {
    return await binfmt.registerEmulators(targets, plan);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.failure, { cause: error });
  }
}
