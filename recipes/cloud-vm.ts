#!/usr/bin/env -S deno run -q -P=cloud-vm
/**
 * Boots a cloud VM: an overlay over the Debian guest's image, a cloud-init seed
 * made at launch with an SSH login (a fresh key, or yours with `--key`), waits until cloud-init
 * is done, prints how to ssh in, and shuts the guest down cleanly on Ctrl-C (or after
 * `--exec CMD` ran). Needs `./scripts/setup.sh` first. Runs from any directory, with exactly the
 * permissions of its set in `deno.json` (`-P=cloud-vm`). A key or user-data file of your own needs
 * read access to it too, and `--allow-read` replaces the set's list, so name those paths as
 * well; the recipe prints the exact command when it cannot read your file.
 *
 * Usage: ./recipes/cloud-vm.ts [--key PRIVATE_KEY] [--user NAME] [--memory 1G] [--cpus 2]
 *        [--hostname NAME] [--user-data FILE] [--timeout SECONDS] [--exec CMD]
 */
import { parseArgs } from "node:util";
import { debianGuest, image, vm, VmReadyError } from "../mod.ts";
import { workDir } from "./_work_dir.ts";

const usage = `usage: cloud-vm.ts [options]
  --key PRIVATE_KEY   log in with this key (its .pub beside it) instead of a fresh one
  --user NAME         the user to log in as (default vmkit, made by the seed, with sudo)
  --memory SIZE       guest memory (default 1G)
  --cpus N            guest CPUs (default 2)
  --hostname NAME     the guest's host name (default cloud-vm)
  --user-data FILE    cloud-init user-data of your own (then give --user: the image's default user)
  --timeout SECONDS   how long to wait for ssh and cloud-init (default 300)
  --exec CMD          run CMD over ssh once ready, print its output, then stop the guest`;
let values;
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: {
      key: { type: "string" },
      user: { type: "string" },
      memory: { type: "string", default: "1G" },
      cpus: { type: "string", default: "2" },
      hostname: { type: "string", default: "cloud-vm" },
      "user-data": { type: "string" },
      timeout: { type: "string", default: "300" },
      exec: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (error) {
  console.error(`cloud-vm: ${(error as Error).message}\n${usage}`);
  Deno.exit(2);
}
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}
const fail = (message: string): never => {
  console.error(`cloud-vm: ${message}`);
  Deno.exit(1);
};
const cpus = Number(values.cpus);
if (!Number.isInteger(cpus) || cpus < 1) fail(`--cpus ${values.cpus}: give a whole number of CPUs`);
const timeout = Number(values.timeout);
if (!(timeout > 0)) fail(`--timeout ${values.timeout}: give seconds, such as 300`);

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Reads files the user named, saying which permission is missing when Deno may not. */
async function readUserFiles(flag: string, paths: string[]): Promise<string[]> {
  const given = paths[0];
  try {
    return await Promise.all(paths.map((path) => Deno.readTextFile(path)));
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      // --allow-read replaces the set's list: name what the recipe reads itself too.
      const read = [`${root}/.cache/vmkit`, "/tmp/vmkit-cloud-vm", ...paths].join(",");
      return fail(
        `${flag} ${given}: Deno may not read it; run: deno run -q -P=cloud-vm --allow-read=${read} ${root}/recipes/cloud-vm.ts ${
          Deno.args.join(" ")
        }`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      return fail(`${flag} ${given}: ${(error as Error).message.replace(/^.*: /, "")}`);
    }
    throw error;
  }
}
if (values.key !== undefined) await readUserFiles("--key", [values.key, `${values.key}.pub`]);
const userData = values["user-data"] === undefined
  ? { packages: [], runcmd: ["echo cloud-vm: first boot done > /dev/ttyS0"] }
  : (await readUserFiles("--user-data", [values["user-data"]]))[0];

const debian = await debianGuest();
const workPath = "/tmp/vmkit-cloud-vm";
const overlay = `${workPath}/overlay.qcow2`;
// The whole description is checked before anything is made.
let builder;
try {
  builder = vm({ arch: "x86_64" }).memory(values.memory).smp(cpus)
    .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
    .drive(overlay, { format: "qcow2" })
    .cloudInit({ userData, metaData: { "local-hostname": values.hostname } })
    .ssh({ user: values.user, identity: values.key })
    .guestAgent();
  builder.toArgv();
} catch (error) {
  if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
  fail(error.message);
}
await using work = await workDir("cloud-vm", workPath);
await image.create(overlay, { backing: debian.image });

const stop = new AbortController();
const onSignal = () => stop.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

const started = performance.now();
let ready = false;
await using guest = await builder!.launch({ runtimeDir: `${work.path}/vm`, timeout: 60_000 });
console.log(`cloud-vm: booting ${values.hostname} (QEMU pid ${guest.pid}); Ctrl-C stops it`);
try {
  const { stages } = await guest.ready({
    stages: ["ssh", "cloud-init"],
    timeout: timeout * 1000,
    signal: stop.signal,
  });
  ready = true;
  console.log(
    `cloud-vm: ready: ${stages.map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)} s`).join(", ")}`,
  );
  console.log(`cloud-vm: ssh in with:\n${guest.ssh.command()}`);
  if (values.exec !== undefined) {
    const result = await guest.ssh.exec(values.exec, { signal: stop.signal });
    await Deno.stdout.write(new TextEncoder().encode(result.stdout));
    await Deno.stderr.write(new TextEncoder().encode(result.stderr));
    console.log(
      `cloud-vm: ${JSON.stringify(values.exec)} exited with ${result.exitCode ?? "a signal"}`,
    );
  } else {
    await Promise.race([
      new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true })),
      guest.exited,
    ]);
  }
} catch (error) {
  if (!stop.signal.aborted) {
    console.error(`cloud-vm: ${error instanceof VmReadyError ? error.message : String(error)}`);
  }
}
// A booted guest gets a minute to stop cleanly; one still booting (Ctrl-C early) 10 s, as
// systemd does not act on the power button until late in its boot.
const result = await guest.shutdown({ timeout: ready ? 60_000 : 10_000 });
console.log(
  `cloud-vm: stopped (${result.method}) after ${
    ((performance.now() - started) / 1000).toFixed(1)
  } s`,
);
Deno.removeSignalListener("SIGINT", onSignal);
Deno.removeSignalListener("SIGTERM", onSignal);
