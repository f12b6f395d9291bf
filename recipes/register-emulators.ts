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
import { binfmt } from "../mod.ts";

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

// --- Doing it -----------------------------------------------------------------------------

const options = {
  targets: archNames,
  machine,
  ignoreFamily,
  qemuPath,
  qemuSuffix,
  namePrefix,
  ...flags,
  reset,
  exportTo,
  dryRun,
};
let targets: binfmt.EmulatorTarget[];
try {
  targets = await binfmt.emulatorTargets(options);
} catch (error) {
  // `--systemd out` meant a directory in vmkit's older spelling.
  const hint = error instanceof binfmt.UnknownQemuTargetError && error.target === exportTarget &&
      !exportTarget.startsWith("-")
    ? `; a directory needs a "/" (./${exportTarget})`
    : "";
  fail(`${(error as Error).message}${hint}`);
}
let report: binfmt.RegisterEmulatorsReport;
try {
  report = await binfmt.registerEmulators(targets, options);
} catch (error) {
  if (exportTo && !dryRun) {
    // The files could not be written: a failure, not wrong input.
    console.error(`register-emulators: ${(error as Error).message}`);
    Deno.exit(1);
  }
  fail((error as Error).message);
}
const { removed, results } = report;

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
    const written = results.filter((r) => r.action === "exported").length;
    console.log(`wrote ${written} ${exportTo.format} files into ${exportTo.dir}`);
  }
}
Deno.exit(failed.length === 0 ? 0 : 1);
