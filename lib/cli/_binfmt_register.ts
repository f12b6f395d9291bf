// `vmkit binfmt register`: the job of recipes/register-emulators.ts (qemu-binfmt-conf.sh's
// flags): pick the targets, build their entries, then register and prove them, or write
// systemd / Debian files, or only say what would be done.

import * as binfmt from "../binfmt/mod.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

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

/** What to do, read from the flags. */
export interface RegisterPlan {
  arches: string[];
  reset: boolean;
  flags: { persistent: boolean; credential: boolean; preserveArgv0: boolean };
  ignoreFamily: boolean;
  qemuPath: string;
  qemuSuffix?: string;
  machine: string;
  namePrefix: string;
  exportTo?: { format: "systemd" | "debian"; dir: string };
  exportTarget?: string;
  dryRun: boolean;
}

/** One target's outcome. */
export interface RegisterResult {
  target: string;
  entry?: string;
  action: binfmt.RegisterOutcome | "exported" | "dry-run" | "skipped" | "failed";
  interpreter?: string;
  line?: string;
  /** The file written, or that would be (export mode). */
  file?: string;
  /** Its text, with --dry-run. */
  text?: string;
  check?: binfmt.CheckState;
  error?: string;
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
    arches: [...flags.arch],
    reset: flags.reset ?? false,
    flags: {
      persistent: yesNo(flags.persistent, "--persistent"),
      credential: yesNo(flags.credential, "--credential"),
      preserveArgv0: yesNo(flags.preserveArgv0, "--preserve-argv0"),
    },
    ignoreFamily: yesNo(flags.ignoreFamily, "--ignore-family"),
    qemuPath: qemuPath.replace(/(?<=.)\/+$/, ""),
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
      if (target !== "ALL") plan.arches.push(target);
    }
  }
  return plan;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The emulator's suffix: --qemu-suffix, or "-static" when only that one is installed. */
async function suffixFor(plan: RegisterPlan, emulator: string): Promise<string> {
  if (plan.qemuSuffix !== undefined) return plan.qemuSuffix;
  const plain = await isFile(`${plan.qemuPath}/${emulator}`);
  return !plain && await isFile(`${plan.qemuPath}/${emulator}-static`) ? "-static" : "";
}

interface Target {
  name: string;
  table: boolean;
  entry: binfmt.BinfmtEntry;
}

const DEBIAN_BINFMTS = "/usr/share/binfmts";

/** Bytes of an update-binfmts template's `magic` or `mask` (`\x7fELF\x02...`). */
function templateBytes(text: string, path: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length;) {
    const hex = /^\\x([0-9a-f]{2})/i.exec(text.slice(i));
    if (hex !== null) {
      bytes.push(parseInt(hex[1], 16));
      i += 4;
    } else if (text.startsWith("\\\\", i)) {
      bytes.push(0x5c);
      i += 2;
    } else if (text[i] !== "\\" && text.charCodeAt(i) < 0x80) {
      bytes.push(text.charCodeAt(i));
      i += 1;
    } else {
      throw new CliError(
        `Cannot read ${path}: ${JSON.stringify(text)} is not bytes written as \\xHH`,
      );
    }
  }
  return new Uint8Array(bytes);
}

/** The entry Debian's update-binfmts template for `qemu-<name>` describes, if there is one. */
async function debianEntry(
  plan: RegisterPlan,
  name: string,
  interpreter: string,
): Promise<binfmt.BinfmtEntry | undefined> {
  const path = `${DEBIAN_BINFMTS}/qemu-${name}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const fields = new Map(
    text.split("\n").map((line) => /^(\S+)\s+(.*?)\s*$/.exec(line)).filter((m) => m !== null)
      .map((m) => [m![1], m![2]]),
  );
  const magicText = fields.get("magic");
  if (magicText === undefined) {
    throw new CliError(`Cannot read ${path}: it has no magic line, so no ELF header to match`);
  }
  const magic = templateBytes(magicText, path);
  const maskText = fields.get("mask");
  const offset = Number(fields.get("offset") ?? "0");
  if (!Number.isInteger(offset) || offset < 0) {
    throw new CliError(`Cannot read ${path}: offset ${fields.get("offset")} is not a number`);
  }
  return {
    name: `${plan.namePrefix}${name}`,
    type: "M",
    offset,
    magic,
    mask: maskText === undefined ? magic.map(() => 0xff) : templateBytes(maskText, path),
    interpreter,
    flags: { ...plan.flags, openBinary: plan.flags.credential },
  };
}

/** Targets outside vmkit's table that Debian describes and that have an emulator installed. */
async function debianExtras(plan: RegisterPlan): Promise<string[]> {
  const known = new Set(binfmt.QEMU_TARGETS.map((t) => t.name as string));
  const names: string[] = [];
  try {
    for await (const item of Deno.readDir(DEBIAN_BINFMTS)) {
      const name = item.name.slice("qemu-".length);
      if (!item.name.startsWith("qemu-") || known.has(name)) continue;
      const emulator = `qemu-${name}`;
      if (await isFile(`${plan.qemuPath}/${emulator}${await suffixFor(plan, emulator)}`)) {
        names.push(name);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

async function unknownTarget(plan: RegisterPlan, name: string, hint = ""): Promise<never> {
  const host = binfmt.hostTarget(plan.machine).target;
  const accepted = [
    ...binfmt.QEMU_TARGETS.map((t) => t.name).filter((t) => t !== host),
    ...await debianExtras(plan),
  ];
  throw usage(
    `Cannot find QEMU target ${JSON.stringify(name)}: use one of ${accepted.join(", ")}${hint}`,
  );
}

async function tableEntry(
  plan: RegisterPlan,
  target: binfmt.QemuTarget,
): Promise<binfmt.BinfmtEntry> {
  return binfmt.entry(target.name, {
    name: `${plan.namePrefix}${target.name}`,
    qemuPath: plan.qemuPath,
    qemuSuffix: await suffixFor(plan, target.emulator),
    ...plan.flags,
  });
}

/** A target named on the command line: from vmkit's table, else from Debian's templates. */
async function namedTarget(plan: RegisterPlan, name: string): Promise<Target> {
  const host = binfmt.hostTarget(plan.machine);
  const known = binfmt.QEMU_TARGETS.find((t) => t.name === name);
  if (known !== undefined) {
    if (known.name === host.target) {
      throw usage(`Cannot register ${name}: it is this host's own architecture (${plan.machine})`);
    }
    return { name, table: true, entry: await tableEntry(plan, known) };
  }
  // `--systemd out` meant a directory in vmkit's older spelling.
  const hint = plan.exportTarget === name && !name.startsWith("-")
    ? `; a directory needs a "/" (./${name})`
    : "";
  if (!/^[a-z0-9_]+$/i.test(name)) return await unknownTarget(plan, name, hint);
  const emulator = `qemu-${name}`;
  const suffix = await suffixFor(plan, emulator);
  const interpreter = `${plan.qemuPath === "/" ? "" : plan.qemuPath}/${emulator}${suffix}`;
  const entry = await debianEntry(plan, name, interpreter);
  if (entry === undefined) return await unknownTarget(plan, name, hint);
  if (!(await isFile(interpreter))) {
    const tried = plan.qemuSuffix === undefined
      ? `${plan.qemuPath}/${emulator} or ${plan.qemuPath}/${emulator}-static`
      : interpreter;
    throw usage(
      `Cannot find QEMU target ${
        JSON.stringify(name)
      }: ${DEBIAN_BINFMTS}/${emulator} describes it, but no ${tried} is installed`,
    );
  }
  return { name, table: false, entry };
}

async function targetsOf(plan: RegisterPlan): Promise<Target[]> {
  const targets: Target[] = [];
  if (plan.arches.length === 0) {
    let foreign: binfmt.QemuTarget[];
    try {
      foreign = binfmt.foreignTargets(plan.machine, { ignoreFamily: plan.ignoreFamily });
    } catch (error) {
      throw usage((error as Error).message);
    }
    for (const target of foreign) {
      targets.push({ name: target.name, table: true, entry: await tableEntry(plan, target) });
    }
    return targets;
  }
  for (const name of new Set(plan.arches)) targets.push(await namedTarget(plan, name));
  return targets;
}

/**
 * Registers (and proves), exports or only describes the entries of the plan.
 *
 * @param plan What to do.
 * @returns The entries removed by `--reset`, and one result per target.
 * @throws {CliError} For a target that cannot be used (usage), or files that cannot be written.
 */
export async function registerEmulators(
  plan: RegisterPlan,
): Promise<{ removed: string[]; results: RegisterResult[] }> {
  const targets = await targetsOf(plan);
  const results: RegisterResult[] = [];
  const entries: binfmt.BinfmtEntry[] = [];
  for (const { name, entry } of targets) {
    try {
      const line = binfmt.registrationString(entry);
      if (
        !plan.exportTo && !plan.dryRun && plan.arches.length === 0 &&
        !(await isFile(entry.interpreter))
      ) {
        results.push({
          target: name,
          action: "skipped",
          interpreter: entry.interpreter,
          error: "no emulator installed",
        });
        continue;
      }
      const result: RegisterResult = {
        target: name,
        entry: entry.name,
        action: plan.exportTo && !plan.dryRun ? "exported" : "dry-run",
        interpreter: entry.interpreter,
        line,
      };
      if (plan.exportTo) {
        const file = binfmt.exportFile(entry, plan.exportTo.format);
        result.file = `${plan.exportTo.dir.replace(/(?<=.)\/+$/, "")}/${file.name}`;
        if (plan.dryRun) result.text = file.text;
      }
      entries.push(entry);
      results.push(result);
    } catch (error) {
      results.push({ target: name, action: "failed", error: (error as Error).message });
    }
  }
  let removed: string[] = [];
  if (plan.exportTo && !plan.dryRun) {
    try {
      await binfmt.exportEntries(entries, plan.exportTo.format, { dir: plan.exportTo.dir });
    } catch (error) {
      throw new CliError(
        `Cannot write the ${plan.exportTo.format} files into ${
          JSON.stringify(plan.exportTo.dir)
        }: ${(error as Error).message}`,
        EXIT.failure,
        { cause: error },
      );
    }
  } else if (!plan.exportTo && !plan.dryRun) {
    if (plan.reset) {
      try {
        removed = await binfmt.reset({ prefix: plan.namePrefix });
      } catch (error) {
        throw new CliError((error as Error).message, EXIT.failure, { cause: error });
      }
    }
    for (const result of results) {
      const entry = entries.find((e) => e.name === result.entry);
      if (entry === undefined) continue;
      try {
        result.action = await binfmt.register(entry);
        if (targets.find((t) => t.name === result.target)?.table) {
          const checked = await binfmt.check(result.target);
          if (checked.state !== "untested") result.check = checked.state;
          if (checked.state === "broken") result.error = checked.error;
        }
      } catch (error) {
        result.action = "failed";
        result.error = (error as Error).message;
      }
    }
  }
  return { removed, results };
}
