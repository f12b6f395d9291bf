/**
 * The `vmkit` command's start-up: `vmkit --help` and `vmkit list` with 20 stopped instances,
 * against `deno run` of an empty script (the floor every Deno program pays), run from source and
 * from the one-file bundle that stands in for the compiled binary, commander by itself (the
 * argument parser every vmkit command loads), and `node:process` by itself (what any npm parser
 * needs, and what starts Deno's Node compatibility layer). Each round runs every
 * command once, in turn, so a busy moment hits them alike; medians are printed as a Markdown
 * table for the README, with the ratio to the floor (goal: at most 2×).
 *
 * The instances look as stopped ones do: a state directory (0700) with the record `vmkit start`
 * writes, and a pid file naming a process that has exited (as after `kill -9` of QEMU); it is
 * written again before each `list`, which finds the process gone and removes it.
 *
 * Usage: deno run -A scripts/bench_cli.ts [--rounds N]
 */
import { parseArgs } from "node:util";
import { writeInstanceRecord } from "../lib/instance/record.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "21" } },
});
const ROUNDS = Number(flags.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`bench_cli: --rounds ${flags.rounds} is not a whole number above 0`);
  Deno.exit(2);
}
const INSTANCES = 20;
const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = `${ROOT}lib/cli/main.ts`;

/** A pid that named a process which has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/** Runs a command to its end; returns milliseconds, and fails on a non-zero exit. */
async function timed(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<number> {
  const started = performance.now();
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (code !== 0) {
    throw new Error(
      `Cannot time deno ${args.join(" ")}: it exited ${code}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const dir = await Deno.makeTempDir({ prefix: "vmkit-bench-cli-" });
try {
  const empty = `${dir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  // What commander costs by itself: Deno loads node:fs, node:child_process and node:process
  // for it through its Node compatibility layer.
  const commanderOnly = `${dir}/commander.ts`;
  await Deno.writeTextFile(
    commanderOnly,
    'import { Command } from "npm:commander@^14.0.3";\n' +
      'new Command("x").option("-a").exitOverride().configureOutput({ writeOut: () => {} })' +
      '.parseAsync(["--help"], { from: "user" }).catch(() => {});\n',
  );
  // The floor of any npm argument parser: each reads process.argv and exits through
  // node:process, which alone makes Deno start its Node compatibility layer.
  const nodeProcess = `${dir}/node_process.ts`;
  await Deno.writeTextFile(nodeProcess, 'import process from "node:process";\nprocess.argv;\n');
  const bundle = `${dir}/vmkit.js`;
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", MAIN, "-o", bundle],
    cwd: ROOT,
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!bundled.success) throw new Error("Cannot bundle lib/cli/main.ts");

  const state = `${dir}/state`;
  const pidFiles: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const name = `vm${String(i).padStart(2, "0")}`;
    const instance = `${state}/vmkit/${name}`;
    await Deno.mkdir(instance, { recursive: true, mode: 0o700 });
    await writeInstanceRecord(instance, {
      version: 1,
      name,
      created: new Date().toISOString(),
      description: { arch: "x86_64", memory: "256M" },
      arch: "x86_64",
      cpus: 1,
      memoryMiB: 256,
      agent: false,
    });
    pidFiles.push(`${instance}/qemu.pid`);
  }
  const env = { XDG_STATE_HOME: state, HOME: dir, PATH: Deno.env.get("PATH") ?? "" };
  const killed = async () => {
    const pid = await deadPid();
    for (const file of pidFiles) await Deno.writeTextFile(file, `${pid}\n`);
  };

  const rows: { name: string; run: () => Promise<number> }[] = [
    {
      name: "deno run empty.ts (floor)",
      run: () => timed(["run", "-A", empty], { cwd: dir, env }),
    },
    {
      name: "deno run of node:process alone",
      run: () => timed(["run", "-A", nodeProcess], { cwd: dir, env }),
    },
    {
      name: "deno run of commander alone (--help)",
      run: () => timed(["run", "-A", commanderOnly], { cwd: dir, env }),
    },
    { name: "vmkit --help", run: () => timed(["run", "-A", MAIN, "--help"], { cwd: dir, env }) },
    {
      name: `vmkit list (${INSTANCES} stopped)`,
      run: async () => {
        await killed();
        return await timed(["run", "-A", MAIN, "list"], { cwd: dir, env });
      },
    },
    {
      name: "bundle: vmkit --help",
      run: () => timed(["run", "-A", bundle, "--help"], { cwd: dir, env }),
    },
    {
      name: `bundle: vmkit list (${INSTANCES} stopped)`,
      run: async () => {
        await killed();
        return await timed(["run", "-A", bundle, "list"], { cwd: dir, env });
      },
    },
  ];
  // One warm-up round: Deno's module and code caches are filled by the first run.
  for (const row of rows) await row.run();
  const samples = rows.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, row] of rows.entries()) samples[i].push(await row.run());
  }
  const floor = median(samples[0]);
  console.log(`| command (${ROUNDS} rounds, median) | ms | × empty deno run |`);
  console.log("| --- | ---: | ---: |");
  for (const [i, row] of rows.entries()) {
    const ms = median(samples[i]);
    console.log(`| ${row.name} | ${ms.toFixed(0)} | ${(ms / floor).toFixed(2)}× |`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
