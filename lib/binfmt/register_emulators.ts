/**
 * `qemu-binfmt-conf.sh` as two calls: pick the QEMU targets and build their entries
 * ({@linkcode emulatorTargets}), then register and prove them, write systemd or Debian files, or
 * only describe them ({@linkcode registerEmulators}). `vmkit binfmt register` and
 * `recipes/register-emulators.ts` are these two calls behind their own flags.
 *
 * @module
 */

import { check, type CheckState } from "./check.ts";
import { type BinfmtEntry, entry as qemuEntry } from "./entry.ts";
import { exportEntries, exportFile, type ExportFormat } from "./export.ts";
import { register, type RegisterOutcome, reset } from "./kernel.ts";
import { registrationString } from "./registration_string.ts";
import { foreignTargets, hostTarget, QEMU_TARGETS, type QemuTarget } from "./targets.ts";
import { readTextIfExists } from "../_fs.ts";

/** Where Debian's update-binfmts templates are (`qemu-<target>`, from qemu-user-static). */
const DEBIAN_BINFMTS = "/usr/share/binfmts";

/** Options of {@linkcode emulatorTargets}, named after `qemu-binfmt-conf.sh`'s flags. */
export interface EmulatorTargetsOptions {
  /**
   * The QEMU targets to register (`--arch`, each once). One missing from
   * {@linkcode QEMU_TARGETS} (Debian's QEMU 7.2 still has `cris`) is read from Debian's
   * `/usr/share/binfmts/qemu-<target>` when its emulator is installed. Default (also when
   * empty): every foreign target of the host.
   */
  targets?: readonly string[];
  /** `uname -m` of the host (`--host-arch`). Default `Deno.build.arch`. */
  machine?: string;
  /** With no `targets`: also the host's family, but not the host itself (`-i`). Default `false`. */
  ignoreFamily?: boolean;
  /** Absolute directory of the emulators (`-Q`). Default `/usr/bin`. */
  qemuPath?: string;
  /**
   * Suffix of the emulators' names (`-F`). Default: `-static` for an emulator installed only with
   * that suffix, else `""`.
   */
  qemuSuffix?: string;
  /** Entry names are this followed by the target (`--name-prefix`). Default `qemu-`. */
  namePrefix?: string;
  /** `F` (`-p`). Default `false`. */
  persistent?: boolean;
  /** `C`, and `O` with it (`-c`). Default `false`. */
  credential?: boolean;
  /** `P` (`-g`). Default `false`. */
  preserveArgv0?: boolean;
}

/** A target {@linkcode emulatorTargets} picked, and the entry that runs its binaries. */
export interface EmulatorTarget {
  /** The QEMU target. */
  name: string;
  /**
   * Whether it is one of {@linkcode QEMU_TARGETS}, which {@linkcode check} can prove; `false`
   * for one read from Debian's template.
   */
  table: boolean;
  /**
   * Whether `targets` named it; one picked as a foreign target of the host is skipped when its
   * emulator is not installed.
   */
  named: boolean;
  /** The entry to register. */
  entry: BinfmtEntry;
}

/**
 * A target named in `targets` that is neither in {@linkcode QEMU_TARGETS} nor described by a
 * Debian template whose emulator is installed.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * try {
 *   await binfmt.emulatorTargets({ targets: ["pdp11"] });
 * } catch (error) {
 *   if (error instanceof binfmt.UnknownQemuTargetError) console.log(error.target); // "pdp11"
 * }
 * ```
 */
export class UnknownQemuTargetError extends RangeError {
  /** Always `"UnknownQemuTargetError"`. */
  override readonly name = "UnknownQemuTargetError";
  /** The target as it was named. */
  readonly target: string;
  /** The targets that could be registered on this host. */
  readonly accepted: readonly string[];

  /**
   * Makes the error.
   *
   * @param target The target as it was named.
   * @param accepted The targets that could be registered on this host.
   */
  constructor(target: string, accepted: readonly string[]) {
    super(`Cannot find QEMU target ${JSON.stringify(target)}: use one of ${accepted.join(", ")}`);
    this.target = target;
    this.accepted = accepted;
  }
}

/** The options with their defaults, the emulators' directory checked and without a final "/". */
interface Settings {
  targets: readonly string[];
  machine: string;
  ignoreFamily: boolean;
  qemuPath: string;
  qemuSuffix?: string;
  namePrefix: string;
  flags: { persistent: boolean; credential: boolean; preserveArgv0: boolean };
}

/**
 * The targets to register and their entries, as `qemu-binfmt-conf.sh` picks them. Nothing is
 * registered or written.
 *
 * @param options The targets, the host, where the emulators are, entry names and flags.
 * @returns The targets, in the order named (or {@linkcode QEMU_TARGETS}'s), each once.
 * @throws {TypeError} When `qemuPath` is not absolute or `machine` is empty.
 * @throws {UnknownQemuTargetError} For a target that cannot be registered here.
 * @throws {RangeError} For the host's own target, or one whose Debian template names an emulator
 * that is not installed.
 * @throws {SyntaxError} When a Debian template has no magic, or one that is not bytes.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * const [riscv] = await binfmt.emulatorTargets({ targets: ["riscv64"], persistent: true });
 * console.log(riscv.entry.name, riscv.entry.flags.persistent); // "qemu-riscv64" true
 * ```
 */
export async function emulatorTargets(
  options: EmulatorTargetsOptions = {},
): Promise<EmulatorTarget[]> {
  const qemuPath = (options.qemuPath ?? "/usr/bin").replace(/(?<=.)\/+$/, "");
  if (!qemuPath.startsWith("/")) {
    throw new TypeError(
      `Cannot pick QEMU targets with qemuPath ${
        JSON.stringify(options.qemuPath)
      }: the kernel needs an absolute path to the emulators`,
    );
  }
  const settings: Settings = {
    targets: options.targets ?? [],
    machine: options.machine ?? Deno.build.arch,
    ignoreFamily: options.ignoreFamily ?? false,
    qemuPath,
    namePrefix: options.namePrefix ?? "qemu-",
    flags: {
      persistent: options.persistent ?? false,
      credential: options.credential ?? false,
      preserveArgv0: options.preserveArgv0 ?? false,
    },
  };
  if (options.qemuSuffix !== undefined) settings.qemuSuffix = options.qemuSuffix;
  const targets: EmulatorTarget[] = [];
  if (settings.targets.length === 0) {
    const foreign = foreignTargets(settings.machine, { ignoreFamily: settings.ignoreFamily });
    for (const target of foreign) {
      targets.push({
        name: target.name,
        table: true,
        named: false,
        entry: await tableEntry(settings, target),
      });
    }
    return targets;
  }
  for (const name of new Set(settings.targets)) targets.push(await namedTarget(settings, name));
  return targets;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The emulator's suffix: the one given, or "-static" when only that one is installed. */
async function suffixFor(settings: Settings, emulator: string): Promise<string> {
  if (settings.qemuSuffix !== undefined) return settings.qemuSuffix;
  const plain = await isFile(`${settings.qemuPath}/${emulator}`);
  return !plain && await isFile(`${settings.qemuPath}/${emulator}-static`) ? "-static" : "";
}

async function tableEntry(settings: Settings, target: QemuTarget): Promise<BinfmtEntry> {
  return qemuEntry(target.name, {
    name: `${settings.namePrefix}${target.name}`,
    qemuPath: settings.qemuPath,
    qemuSuffix: await suffixFor(settings, target.emulator),
    ...settings.flags,
  });
}

/** A named target: from vmkit's table, else from Debian's templates. */
async function namedTarget(settings: Settings, name: string): Promise<EmulatorTarget> {
  const host = hostTarget(settings.machine);
  const known = QEMU_TARGETS.find((t) => t.name === name);
  if (known !== undefined) {
    if (known.name === host.target) {
      throw new RangeError(
        `Cannot register ${name}: it is this host's own architecture (${settings.machine})`,
      );
    }
    return { name, table: true, named: true, entry: await tableEntry(settings, known) };
  }
  if (!/^[a-z0-9_]+$/i.test(name)) return await unknownTarget(settings, name);
  const emulator = `qemu-${name}`;
  const suffix = await suffixFor(settings, emulator);
  const interpreter = `${settings.qemuPath === "/" ? "" : settings.qemuPath}/${emulator}${suffix}`;
  const debian = await debianEntry(settings, name, interpreter);
  if (debian === undefined) return await unknownTarget(settings, name);
  if (!(await isFile(interpreter))) {
    const tried = settings.qemuSuffix === undefined
      ? `${settings.qemuPath}/${emulator} or ${settings.qemuPath}/${emulator}-static`
      : interpreter;
    throw new RangeError(
      `Cannot find QEMU target ${
        JSON.stringify(name)
      }: ${DEBIAN_BINFMTS}/${emulator} describes it, but no ${tried} is installed`,
    );
  }
  return { name, table: false, named: true, entry: debian };
}

async function unknownTarget(settings: Settings, name: string): Promise<never> {
  const host = hostTarget(settings.machine).target;
  throw new UnknownQemuTargetError(name, [
    ...QEMU_TARGETS.map((t) => t.name).filter((t) => t !== host),
    ...await debianExtras(settings),
  ]);
}

/** Targets outside vmkit's table that Debian describes and that have an emulator installed. */
async function debianExtras(settings: Settings): Promise<string[]> {
  const known = new Set(QEMU_TARGETS.map((t) => t.name as string));
  const names: string[] = [];
  try {
    for await (const item of Deno.readDir(DEBIAN_BINFMTS)) {
      const name = item.name.slice("qemu-".length);
      if (!item.name.startsWith("qemu-") || known.has(name)) continue;
      const emulator = `qemu-${name}`;
      if (await isFile(`${settings.qemuPath}/${emulator}${await suffixFor(settings, emulator)}`)) {
        names.push(name);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/**
 * The magic entry that Debian's update-binfmts template for `qemu-<name>` describes, with these
 * settings' name and flags; `undefined` when there is no such template.
 */
async function debianEntry(
  settings: Settings,
  name: string,
  interpreter: string,
): Promise<BinfmtEntry | undefined> {
  const path = `${DEBIAN_BINFMTS}/qemu-${name}`;
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  const fields = new Map(
    text.split("\n").map((line) => /^(\S+)\s+(.*?)\s*$/.exec(line)).filter((m) => m !== null)
      .map((m) => [m![1], m![2]]),
  );
  const magicText = fields.get("magic");
  if (magicText === undefined) {
    throw new SyntaxError(`Cannot read ${path}: it has no magic line, so no ELF header to match`);
  }
  const magic = templateBytes(magicText, path);
  const maskText = fields.get("mask");
  const offset = Number(fields.get("offset") ?? "0");
  if (!Number.isInteger(offset) || offset < 0) {
    throw new SyntaxError(`Cannot read ${path}: offset ${fields.get("offset")} is not a number`);
  }
  return {
    name: `${settings.namePrefix}${name}`,
    type: "M",
    offset,
    magic,
    mask: maskText === undefined ? magic.map(() => 0xff) : templateBytes(maskText, path),
    interpreter,
    flags: { ...settings.flags, openBinary: settings.flags.credential },
  };
}

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
      throw new SyntaxError(
        `Cannot read ${path}: ${JSON.stringify(text)} is not bytes written as \\xHH`,
      );
    }
  }
  return new Uint8Array(bytes);
}

/** Options of {@linkcode registerEmulators}, named after `qemu-binfmt-conf.sh`'s flags. */
export interface RegisterEmulatorsOptions {
  /** Remove every entry whose name starts with `namePrefix` first (`--reset`). Default `false`. */
  reset?: boolean;
  /** The prefix `reset` removes. Default `qemu-`. */
  namePrefix?: string;
  /**
   * Write these files into `dir` instead of registering (`--systemd`, `--debian`,
   * `--exportdir`): binfmt.d `.conf` files, or update-binfmts templates.
   */
  exportTo?: { format: ExportFormat; dir: string };
  /** Only say what would be registered or written (`--dry-run`). Default `false`. */
  dryRun?: boolean;
}

/** What became of one target. */
export interface EmulatorResult {
  /** The QEMU target. */
  target: string;
  /** The entry's name, unless it was skipped or could not be built. */
  entry?: string;
  /** What the kernel did, or `exported`, `dry-run`, `skipped` (no emulator) or `failed`. */
  action: RegisterOutcome | "exported" | "dry-run" | "skipped" | "failed";
  /** The emulator. */
  interpreter?: string;
  /** The registration string. */
  line?: string;
  /** The file written, or that would be (with `exportTo`). */
  file?: string;
  /** Its text, with `dryRun`. */
  text?: string;
  /** What {@linkcode check} found after registering; absent where it has nothing to run. */
  check?: CheckState;
  /** Why it failed, was skipped or is broken. */
  error?: string;
}

/** What {@linkcode registerEmulators} did. */
export interface RegisterEmulatorsReport {
  /** The entries `reset` removed. */
  removed: string[];
  /** One result per target, in order. */
  results: EmulatorResult[];
}

/**
 * Registers the targets' entries and proves each one by running a tiny program of its
 * architecture; or, with `exportTo`, writes their files; or, with `dryRun`, only describes them.
 * A target that fails (its entry is invalid, the kernel refuses it) is a `failed` result, the
 * others go on; a target that was not named and has no emulator installed is `skipped`.
 *
 * @param targets The targets, from {@linkcode emulatorTargets}.
 * @param options Reset first, export instead, or a dry run.
 * @returns The entries removed by `reset`, and one result per target.
 * @throws {Error} When the files cannot be written (`exportTo`); nothing else is thrown then.
 * @throws {TypeError} When `reset` is set with an empty `namePrefix`.
 * @throws {BinfmtPermissionError} When `reset` is set and not running as root.
 *
 * @example
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * const targets = await binfmt.emulatorTargets({ targets: ["aarch64"] });
 * const { results } = await binfmt.registerEmulators(targets, { dryRun: true });
 * console.log(results[0].action, results[0].line?.startsWith(":qemu-aarch64:M:")); // "dry-run" true
 * ```
 */
export async function registerEmulators(
  targets: readonly EmulatorTarget[],
  options: RegisterEmulatorsOptions = {},
): Promise<RegisterEmulatorsReport> {
  const { exportTo } = options;
  const dryRun = options.dryRun ?? false;
  const results: EmulatorResult[] = [];
  const entries: BinfmtEntry[] = [];
  for (const { name, named, entry } of targets) {
    try {
      const line = registrationString(entry);
      if (!exportTo && !dryRun && !named && !(await isFile(entry.interpreter))) {
        results.push({
          target: name,
          action: "skipped",
          interpreter: entry.interpreter,
          error: "no emulator installed",
        });
        continue;
      }
      const result: EmulatorResult = {
        target: name,
        entry: entry.name,
        action: exportTo && !dryRun ? "exported" : "dry-run",
        interpreter: entry.interpreter,
        line,
      };
      if (exportTo) {
        const file = exportFile(entry, exportTo.format);
        result.file = `${exportTo.dir.replace(/(?<=.)\/+$/, "")}/${file.name}`;
        if (dryRun) result.text = file.text;
      }
      entries.push(entry);
      results.push(result);
    } catch (error) {
      results.push({ target: name, action: "failed", error: (error as Error).message });
    }
  }
  let removed: string[] = [];
  if (exportTo && !dryRun) {
    try {
      await exportEntries(entries, exportTo.format, { dir: exportTo.dir });
    } catch (error) {
      throw new Error(
        `Cannot write the ${exportTo.format} files into ${JSON.stringify(exportTo.dir)}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  } else if (!exportTo && !dryRun) {
    if (options.reset) removed = await reset({ prefix: options.namePrefix ?? "qemu-" });
    for (const result of results) {
      const entry = entries.find((e) => e.name === result.entry);
      if (entry === undefined) continue;
      try {
        result.action = await register(entry);
        if (targets.find((t) => t.name === result.target)?.table) {
          const checked = await check(result.target);
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
