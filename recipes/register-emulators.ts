#!/usr/bin/env -S deno run --allow-all
/**
 * vmkit's `qemu-user-static --reset -p yes`: registers QEMU user-mode emulators with
 * binfmt_misc so binaries of other architectures run as if native, then proves each one works
 * by running a tiny program of that architecture. Exits non-zero when anything failed.
 *
 * The flags are QEMU's `scripts/qemu-binfmt-conf.sh`'s, spelled as its users type them:
 * `--qemu-suffix -static` (a value may start with "-"), `--qemu-path=/usr/bin`, the short
 * `-Q -F -p -c -g -i -s -d -e`, `--persistent` alone or with `yes|no`, `--systemd ALL` or
 * `--systemd TARGET` with `--exportdir DIR`. vmkit's older `--systemd DIR` / `--debian DIR` still
 * work: a value with a "/" is a directory, one without is a target.
 *
 * A target that vmkit's table lacks (Debian's QEMU 7.2 still has `qemu-cris`) is accepted by
 * name when its emulator is installed and Debian's `/usr/share/binfmts/qemu-<name>` gives its
 * magic and mask. vmkit has no program of such a target to prove it with, so it stays unchecked.
 *
 * Why --allow-all: Deno 2.9 treats /proc as privileged and grants it to --allow-all only, and
 * binfmt_misc lives in /proc/sys/fs/binfmt_misc. Registering needs root; --dry-run, --systemd
 * and --debian do not.
 *
 * Usage: ./recipes/register-emulators.ts [--arch TARGET]... [--reset] [-p [yes|no]]
 *          [-c [yes|no]] [-g [yes|no]] [-i [yes|no]] [-Q DIR] [-F SUFFIX] [--host-arch MACHINE]
 *          [--name-prefix P] [-s TARGET|ALL | -d [TARGET|ALL]] [-e DIR] [--dry-run] [--json]
 */
import { parseArgs } from "node:util";
import { binfmt, registrationString } from "../mod.ts";

const USAGE = `usage: register-emulators.ts [options]   (the flags of QEMU's qemu-binfmt-conf.sh)
  --arch TARGET                 register TARGET (repeatable; default: every foreign target
                                installed); a target vmkit's table lacks is read from Debian's
                                /usr/share/binfmts/qemu-TARGET when its emulator is installed
  --reset                       remove every PREFIX* entry first
  -p, --persistent [yes|no]     F flag: load the emulator now, works in containers (static only)
  -c, --credential [yes|no]     C flag: setuid/capabilities from the binary (sudo in a chroot)
  -g, --preserve-argv0 [yes|no] P flag: pass argv[0] through
  -i, --ignore-family [yes|no]  also the host's family (i386 on x86_64), not the host itself
  -Q, --qemu-path DIR           where the emulators are (default /usr/bin)
  -F, --qemu-suffix SUFFIX      emulator name suffix (default "-static" when only that exists)
  --host-arch MACHINE           act as if uname -m were MACHINE
  --name-prefix PREFIX          entry names are PREFIX<target> (default "qemu-")
  -s, --systemd TARGET|ALL      write binfmt.d .conf files instead of registering; TARGET is
                                one more --arch, ALL every foreign target
  -d, --debian [TARGET|ALL]     write update-binfmts templates instead of registering
  -e, --exportdir DIR           where they go (default /etc/binfmt.d, /usr/share/binfmts)
  --systemd DIR, --debian DIR   the same into DIR: a value with a "/" is a directory
  --dry-run                     print what would be registered or written; change nothing
  --json                        print the results as JSON
  -h, --help                    print this
A yes|no flag given alone means yes. A value follows its flag after a space or "=" (after
nothing for the short ones: -F-static), and may start with "-".`;

/** Exits 2 with the message and the usage: for wrong input. */
function fail(message: string): never {
  console.error(`register-emulators: ${message}\n${USAGE}`);
  Deno.exit(2);
}

// --- The command line ---------------------------------------------------------------------
//
// node:util parseArgs splits the words (long and short options, "=", short clusters, attached
// short values). Its strict mode cannot take what qemu-binfmt-conf.sh users type, so it runs
// non-strict and the tokens are checked here: a value is always the next word, as getopt takes
// it, even when it starts with "-" (strict mode calls that ambiguous); a yes|no flag, and
// --debian, take the next word when it is not an option (this recipe takes no other words).

/** `value`: needs one; `flag`: takes none; `yes-no` and `optional`: may take the next word. */
type Kind = "value" | "flag" | "yes-no" | "optional";

const FLAGS: Readonly<Record<string, { kind: Kind; short?: string }>> = {
  arch: { kind: "value" },
  reset: { kind: "flag" },
  persistent: { kind: "yes-no", short: "p" },
  credential: { kind: "yes-no", short: "c" },
  "preserve-argv0": { kind: "yes-no", short: "g" },
  "ignore-family": { kind: "yes-no", short: "i" },
  "qemu-path": { kind: "value", short: "Q" },
  "qemu-suffix": { kind: "value", short: "F" },
  "host-arch": { kind: "value" },
  "name-prefix": { kind: "value" },
  systemd: { kind: "value", short: "s" },
  debian: { kind: "optional", short: "d" },
  exportdir: { kind: "value", short: "e" },
  "dry-run": { kind: "flag" },
  json: { kind: "flag" },
  help: { kind: "flag", short: "h" },
};

/** One flag as given: its name, how it was written, and its value if it took one. */
interface Given {
  name: string;
  rawName: string;
  value?: string;
}

function parseCommandLine(args: readonly string[]): Given[] {
  // getopt reads "-pyes" as -p yes; parseArgs would read a cluster -p -y -e -s.
  const words = args.flatMap((arg) => {
    const attached = /^-([pcgi])(yes|no)$/.exec(arg);
    return attached === null ? [arg] : [`-${attached[1]}`, attached[2]];
  });
  const { tokens } = parseArgs({
    args: words,
    options: Object.fromEntries(
      Object.entries(FLAGS).map(([name, { kind, short }]) => [
        name,
        {
          type: kind === "value" ? "string" as const : "boolean" as const,
          ...(short === undefined ? {} : { short }),
        },
      ]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const given: Given[] = [];
  // The yes|no or optional flag that the next word may belong to.
  let open: { given: Given; index: number } | undefined;
  for (const token of tokens) {
    const last = open;
    open = undefined;
    if (token.kind === "positional") {
      if (last !== undefined && token.index === last.index + 1) {
        last.given.value = token.value;
        continue;
      }
      fail(`Cannot use ${JSON.stringify(token.value)}: register-emulators takes options only`);
    }
    if (token.kind === "option-terminator") continue;
    const spec = Object.hasOwn(FLAGS, token.name) ? FLAGS[token.name] : undefined;
    if (spec === undefined) fail(`Cannot use ${token.rawName}: unknown option`);
    const item: Given = { name: token.name, rawName: token.rawName };
    if (spec.kind === "value") {
      if (token.value === undefined) fail(`Cannot use ${token.rawName}: it needs a value`);
      item.value = token.value;
    } else if (token.value !== undefined) {
      if (spec.kind === "flag") {
        fail(`Cannot use ${token.rawName}=${token.value}: ${token.rawName} takes no value`);
      }
      item.value = token.value;
    } else if (spec.kind !== "flag") {
      open = { given: item, index: token.index };
    }
    given.push(item);
  }
  return given;
}

const given = parseCommandLine(Deno.args);
const lastOf = (name: string) => given.findLast((g) => g.name === name);
const has = (name: string) => lastOf(name) !== undefined;

if (has("help")) {
  console.log(USAGE);
  Deno.exit(0);
}

function yesNo(name: string): boolean {
  const flag = lastOf(name);
  if (flag === undefined) return false;
  if (flag.value === undefined || flag.value === "yes") return true;
  if (flag.value === "no") return false;
  fail(`Cannot use ${flag.rawName} ${JSON.stringify(flag.value)}: give yes or no`);
}

const flags = {
  persistent: yesNo("persistent"),
  credential: yesNo("credential"),
  preserveArgv0: yesNo("preserve-argv0"),
};
const ignoreFamily = yesNo("ignore-family");
const dryRun = has("dry-run");
const json = has("json");
const reset = has("reset");
const namePrefix = lastOf("name-prefix")?.value ?? "qemu-";
const machine = lastOf("host-arch")?.value ?? Deno.build.arch;
const qemuSuffix = lastOf("qemu-suffix")?.value;
const qemuPath = (() => {
  const flag = lastOf("qemu-path");
  if (flag === undefined) return "/usr/bin";
  if (!flag.value!.startsWith("/")) {
    fail(
      `Cannot use ${flag.rawName} ${
        JSON.stringify(flag.value)
      }: the kernel needs an absolute path to the emulators`,
    );
  }
  return flag.value!.replace(/(?<=.)\/+$/, "");
})();

// --systemd / --debian: the format, the directory, and a target or ALL.
const systemd = lastOf("systemd");
const debian = lastOf("debian");
const exportDir = lastOf("exportdir");
if (systemd !== undefined && debian !== undefined) {
  fail(`Cannot use ${debian.rawName} with ${systemd.rawName}: export one format at a time`);
}
const exportFlag = systemd ?? debian;
if (exportDir !== undefined && exportFlag === undefined) {
  fail(
    `Cannot use ${exportDir.rawName} ${
      JSON.stringify(exportDir.value)
    }: it goes with --systemd or --debian`,
  );
}
if (exportFlag !== undefined && has("reset")) {
  fail(
    `Cannot use --reset with ${exportFlag.rawName}: it removes kernel entries, and writing files does not touch the kernel`,
  );
}
const exportValueIsDir = exportFlag?.value?.includes("/") ?? false;
if (exportValueIsDir && exportDir !== undefined) {
  fail(
    `Cannot use ${exportDir.rawName} ${JSON.stringify(exportDir.value)}: ${exportFlag!.rawName} ${
      JSON.stringify(exportFlag!.value)
    } already names the directory`,
  );
}
const exportTo = exportFlag === undefined ? undefined : {
  format: exportFlag === systemd ? "systemd" as const : "debian" as const,
  dir: exportValueIsDir
    ? exportFlag.value!
    : exportDir?.value ?? (exportFlag === systemd ? "/etc/binfmt.d" : "/usr/share/binfmts"),
};
const archNames = given.filter((g) => g.name === "arch").map((g) => g.value!);
const exportTarget = exportValueIsDir ? undefined : exportFlag?.value;
if (exportTarget !== undefined && exportTarget !== "ALL") archNames.push(exportTarget);

// --- The targets --------------------------------------------------------------------------

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The emulator's suffix: --qemu-suffix, or "-static" when only that one is installed. */
async function suffixFor(emulator: string): Promise<string> {
  if (qemuSuffix !== undefined) return qemuSuffix;
  const plain = await isFile(`${qemuPath}/${emulator}`);
  return !plain && await isFile(`${qemuPath}/${emulator}-static`) ? "-static" : "";
}

/** What to register for one target; `table` is false for one read from Debian's file. */
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
      throw new SyntaxError(
        `Cannot read ${path}: ${JSON.stringify(text)} is not bytes written as \\xHH`,
      );
    }
  }
  return new Uint8Array(bytes);
}

/**
 * The magic entry that Debian's update-binfmts template for `qemu-<name>` describes, with this
 * run's name, interpreter and flags; `undefined` when there is no such template.
 */
async function debianEntry(name: string, interpreter: string) {
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
    throw new SyntaxError(`Cannot read ${path}: it has no magic line, so no ELF header to match`);
  }
  const magic = templateBytes(magicText, path);
  const maskText = fields.get("mask");
  const offset = Number(fields.get("offset") ?? "0");
  if (!Number.isInteger(offset) || offset < 0) {
    throw new SyntaxError(`Cannot read ${path}: offset ${fields.get("offset")} is not a number`);
  }
  const entry: binfmt.BinfmtEntry = {
    name: `${namePrefix}${name}`,
    type: "M",
    offset,
    magic,
    mask: maskText === undefined ? magic.map(() => 0xff) : templateBytes(maskText, path),
    interpreter,
    flags: { ...flags, openBinary: flags.credential },
  };
  return entry;
}

/** Targets outside vmkit's table that Debian describes and that have an emulator installed. */
async function debianExtras(): Promise<string[]> {
  const known = new Set(binfmt.QEMU_TARGETS.map((t) => t.name as string));
  const names: string[] = [];
  try {
    for await (const item of Deno.readDir(DEBIAN_BINFMTS)) {
      const name = item.name.slice("qemu-".length);
      if (!item.name.startsWith("qemu-") || known.has(name)) continue;
      const emulator = `qemu-${name}`;
      if (await isFile(`${qemuPath}/${emulator}${await suffixFor(emulator)}`)) names.push(name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

async function unknownTarget(name: string, hint = ""): Promise<never> {
  const host = binfmt.hostTarget(machine).target;
  const accepted = [
    ...binfmt.QEMU_TARGETS.map((t) => t.name).filter((t) => t !== host),
    ...await debianExtras(),
  ];
  fail(`Cannot find QEMU target ${JSON.stringify(name)}: use one of ${accepted.join(", ")}${hint}`);
}

/** A target named on the command line: from the table, else from Debian's templates. */
async function namedTarget(name: string): Promise<Target> {
  const host = binfmt.hostTarget(machine);
  const known = binfmt.QEMU_TARGETS.find((t) => t.name === name);
  if (known !== undefined) {
    if (known.name === host.target) {
      fail(`Cannot register ${name}: it is this host's own architecture (${machine})`);
    }
    return { name, table: true, entry: await tableEntry(known) };
  }
  // `--systemd out` meant a directory in vmkit's older spelling.
  const hint = exportTarget === name && !name.startsWith("-")
    ? `; a directory needs a "/" (./${name})`
    : "";
  if (!/^[a-z0-9_]+$/i.test(name)) return await unknownTarget(name, hint);
  const emulator = `qemu-${name}`;
  const suffix = await suffixFor(emulator);
  const interpreter = `${qemuPath === "/" ? "" : qemuPath}/${emulator}${suffix}`;
  const entry = await debianEntry(name, interpreter);
  if (entry === undefined) return await unknownTarget(name, hint);
  if (!(await isFile(interpreter))) {
    const tried = qemuSuffix === undefined
      ? `${qemuPath}/${emulator} or ${qemuPath}/${emulator}-static`
      : interpreter;
    fail(
      `Cannot find QEMU target ${
        JSON.stringify(name)
      }: ${DEBIAN_BINFMTS}/${emulator} describes it, but no ${tried} is installed`,
    );
  }
  return { name, table: false, entry };
}

async function tableEntry(target: binfmt.QemuTarget): Promise<binfmt.BinfmtEntry> {
  return binfmt.entry(target.name, {
    name: `${namePrefix}${target.name}`,
    qemuPath,
    qemuSuffix: await suffixFor(target.emulator),
    ...flags,
  });
}

let targets: Target[];
try {
  if (archNames.length === 0) {
    const foreign = binfmt.foreignTargets(machine, { ignoreFamily });
    targets = [];
    for (const target of foreign) {
      targets.push({ name: target.name, table: true, entry: await tableEntry(target) });
    }
  } else {
    targets = [];
    for (const name of new Set(archNames)) targets.push(await namedTarget(name));
  }
} catch (error) {
  fail((error as Error).message);
}

// --- Doing it -----------------------------------------------------------------------------

interface Result {
  target: string;
  entry?: string;
  action:
    | binfmt.RegisterOutcome
    | "exported"
    | "dry-run"
    | "skipped"
    | "failed";
  interpreter?: string;
  line?: string;
  /** The file written, or that would be (export mode). */
  file?: string;
  /** Its text, with --dry-run. */
  text?: string;
  check?: binfmt.CheckState;
  error?: string;
}

const results: Result[] = [];
const entries: binfmt.BinfmtEntry[] = [];
for (const { name, entry } of targets) {
  try {
    const line = registrationString(entry);
    if (!exportTo && !dryRun && archNames.length === 0 && !(await isFile(entry.interpreter))) {
      results.push({
        target: name,
        action: "skipped",
        interpreter: entry.interpreter,
        error: "no emulator installed",
      });
      continue;
    }
    const result: Result = {
      target: name,
      entry: entry.name,
      action: exportTo && !dryRun ? "exported" : "dry-run",
      interpreter: entry.interpreter,
      line,
    };
    if (exportTo) {
      const file = binfmt.exportFile(entry, exportTo.format);
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
    await binfmt.exportEntries(entries, exportTo.format, { dir: exportTo.dir });
  } catch (error) {
    console.error(
      `register-emulators: Cannot write the ${exportTo.format} files into ${
        JSON.stringify(exportTo.dir)
      }: ${(error as Error).message}`,
    );
    Deno.exit(1);
  }
} else if (!exportTo && !dryRun) {
  try {
    if (reset) removed = await binfmt.reset({ prefix: namePrefix });
  } catch (error) {
    fail((error as Error).message);
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

const failed = results.filter((r) => r.action === "failed" || r.check === "broken");
if (json) {
  console.log(JSON.stringify({ removed, results, ok: failed.length === 0 }, null, 2));
} else {
  for (const name of removed) console.log(`removed ${name}`);
  for (const r of results) {
    if (dryRun && r.text !== undefined) {
      console.log(`# would write ${r.file}\n${r.text.replace(/\n$/, "")}`);
      continue;
    }
    if (dryRun && r.line !== undefined) {
      console.log(r.line);
      continue;
    }
    const check = r.check === undefined ? "" : ` (${r.check})`;
    const detail = r.error === undefined ? "" : `: ${r.error}`;
    const where = r.interpreter === undefined ? "" : ` -> ${r.interpreter}`;
    console.log(`${r.action.padEnd(10)} ${r.target}${where}${check}${detail}`);
  }
  if (exportTo && !dryRun) {
    console.log(`wrote ${entries.length} ${exportTo.format} files into ${exportTo.dir}`);
  }
}
Deno.exit(failed.length === 0 ? 0 : 1);
