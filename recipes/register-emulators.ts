#!/usr/bin/env -S deno run --allow-all
/**
 * vmkit's `qemu-user-static --reset -p yes`: registers QEMU user-mode emulators with
 * binfmt_misc so binaries of other architectures run as if native, then proves each one works
 * by running a tiny program of that architecture. Flags are named as in QEMU's
 * `qemu-binfmt-conf.sh`. Exits non-zero when anything failed.
 *
 * Why --allow-all: Deno 2.9 treats /proc as privileged and grants it to --allow-all only, and
 * binfmt_misc lives in /proc/sys/fs/binfmt_misc. Registering needs root; --dry-run, --systemd
 * and --debian do not.
 *
 * Usage: ./recipes/register-emulators.ts [--arch TARGET]... [--reset] [--persistent yes|no]
 *          [--credential yes|no] [--preserve-argv0 yes|no] [--qemu-path DIR]
 *          [--qemu-suffix SUFFIX] [--ignore-family] [--host-arch MACHINE] [--name-prefix P]
 *          [--systemd DIR | --debian DIR] [--dry-run] [--json]
 */
import { parseArgs } from "node:util";
import { binfmt, registrationString } from "../mod.ts";

const USAGE = `usage: register-emulators.ts [options]
  --arch TARGET          register TARGET (repeatable; default: every foreign target installed)
  --reset                remove every qemu-* entry first
  --persistent yes|no    F flag: load the emulator now, works in containers (needs a static one)
  --credential yes|no    C flag: setuid/capabilities from the binary (sudo in a chroot)
  --preserve-argv0 yes|no  P flag: pass argv[0] through
  --qemu-path DIR        where the emulators are (default /usr/bin)
  --qemu-suffix SUFFIX   emulator name suffix (default: "-static" when only that one exists)
  --ignore-family        also register the host's family (i386 on x86_64), not the host itself
  --host-arch MACHINE    act as if uname -m were MACHINE
  --name-prefix PREFIX   entry names are PREFIX<target> (default "qemu-"); --reset removes PREFIX*
  --systemd DIR          write binfmt.d .conf files into DIR instead of registering
  --debian DIR           write update-binfmts templates into DIR instead of registering
  --dry-run              print the registration strings, change nothing
  --json                 print the results as JSON`;

function fail(message: string): never {
  console.error(`register-emulators: ${message}`);
  Deno.exit(2);
}

const OPTIONS = {
  arch: { type: "string", multiple: true },
  reset: { type: "boolean" },
  persistent: { type: "string" },
  credential: { type: "string" },
  "preserve-argv0": { type: "string" },
  "qemu-path": { type: "string" },
  "qemu-suffix": { type: "string" },
  "ignore-family": { type: "boolean" },
  "host-arch": { type: "string" },
  "name-prefix": { type: "string", default: "qemu-" },
  systemd: { type: "string" },
  debian: { type: "string" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function parse() {
  try {
    return parseArgs({ args: Deno.args, options: OPTIONS }).values;
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`);
  }
}
const values = parse();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

function yesNo(flag: string): boolean {
  const value = values[flag as "persistent" | "credential" | "preserve-argv0"];
  if (value === undefined || value === "no") return false;
  if (value === "yes") return true;
  fail(`--${flag} takes "yes" or "no", not ${JSON.stringify(value)}`);
}

const flags = {
  persistent: yesNo("persistent"),
  credential: yesNo("credential"),
  preserveArgv0: yesNo("preserve-argv0"),
};
if (values.systemd !== undefined && values.debian !== undefined) {
  fail("--systemd and --debian exclude each other: export one format at a time");
}
const exportTo = values.systemd !== undefined
  ? { format: "systemd" as const, dir: values.systemd }
  : values.debian !== undefined
  ? { format: "debian" as const, dir: values.debian }
  : undefined;
const machine = values["host-arch"] ?? Deno.build.arch;
const qemuPath = values["qemu-path"] ?? "/usr/bin";

let targets: binfmt.QemuTarget[];
try {
  const host = binfmt.hostTarget(machine);
  targets = values.arch === undefined
    ? binfmt.foreignTargets(machine, { ignoreFamily: values["ignore-family"] })
    : values.arch.map((name) => {
      const target = binfmt.qemuTarget(name);
      if (target.name === host.target) {
        fail(`Cannot register ${name}: it is this host's own architecture (${machine})`);
      }
      return target;
    });
} catch (error) {
  fail((error as Error).message);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

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
  check?: binfmt.CheckState;
  error?: string;
}

const results: Result[] = [];
const entries: binfmt.BinfmtEntry[] = [];
for (const target of targets) {
  let suffix = values["qemu-suffix"];
  if (suffix === undefined) {
    const plain = await isFile(`${qemuPath}/${target.emulator}`);
    suffix = !plain && await isFile(`${qemuPath}/${target.emulator}-static`) ? "-static" : "";
  }
  try {
    const entry = binfmt.entry(target.name, {
      name: `${values["name-prefix"]}${target.name}`,
      qemuPath,
      qemuSuffix: suffix,
      ...flags,
    });
    const line = registrationString(entry);
    if (
      !exportTo && !values["dry-run"] && values.arch === undefined &&
      !(await isFile(entry.interpreter))
    ) {
      results.push({
        target: target.name,
        action: "skipped",
        interpreter: entry.interpreter,
        error: "no emulator installed",
      });
      continue;
    }
    entries.push(entry);
    results.push({
      target: target.name,
      entry: entry.name,
      action: exportTo ? "exported" : "dry-run",
      interpreter: entry.interpreter,
      line,
    });
  } catch (error) {
    results.push({ target: target.name, action: "failed", error: (error as Error).message });
  }
}

let removed: string[] = [];
if (exportTo) {
  try {
    await binfmt.exportEntries(entries, exportTo.format, { dir: exportTo.dir });
  } catch (error) {
    fail((error as Error).message);
  }
} else if (!values["dry-run"]) {
  try {
    if (values.reset) removed = await binfmt.reset({ prefix: values["name-prefix"] });
  } catch (error) {
    fail((error as Error).message);
  }
  for (const result of results) {
    const entry = entries.find((e) => e.name === result.entry);
    if (entry === undefined) continue;
    try {
      result.action = await binfmt.register(entry);
      const checked = await binfmt.check(result.target);
      if (checked.state !== "untested") result.check = checked.state;
      if (checked.state === "broken") result.error = checked.error;
    } catch (error) {
      result.action = "failed";
      result.error = (error as Error).message;
    }
  }
}

const failed = results.filter((r) => r.action === "failed" || r.check === "broken");
if (values.json) {
  console.log(JSON.stringify({ removed, results, ok: failed.length === 0 }, null, 2));
} else {
  for (const name of removed) console.log(`removed ${name}`);
  for (const r of results) {
    if (values["dry-run"] && r.line !== undefined) {
      console.log(r.line);
      continue;
    }
    const check = r.check === undefined ? "" : ` (${r.check})`;
    const detail = r.error === undefined ? "" : `: ${r.error}`;
    const where = r.interpreter === undefined ? "" : ` -> ${r.interpreter}`;
    console.log(`${r.action.padEnd(10)} ${r.target}${where}${check}${detail}`);
  }
  if (exportTo) {
    console.log(`wrote ${entries.length} ${exportTo.format} files into ${exportTo.dir}`);
  }
}
Deno.exit(failed.length === 0 ? 0 : 1);
