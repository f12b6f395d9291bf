#!/usr/bin/env -S deno run -q -P=cloud-vm
/**
 * Boots a cloud VM: an overlay over the Debian guest's image (or `--image`), a cloud-init seed
 * made at launch with an SSH login (a fresh key, or yours with `--key`), waits until cloud-init
 * is done, prints how to ssh in, and shuts the guest down cleanly on Ctrl-C (or after
 * `--exec CMD` ran). Needs `./scripts/setup.sh` first. Runs from any directory, with exactly the
 * permissions of its set in `deno.json` (`-P=cloud-vm`); a key or image of your own needs read
 * access to it too: `deno run -P=cloud-vm --allow-read=KEY,KEY.pub recipes/cloud-vm.ts --key KEY`.
 *
 * Usage: ./recipes/cloud-vm.ts [--key PRIVATE_KEY] [--user NAME] [--memory 1G] [--cpus 2]
 *        [--hostname NAME] [--user-data FILE] [--timeout SECONDS] [--exec CMD]
 */
import { parseArgs } from "node:util";
import { debianGuest, image, vm, VmReadyError } from "../mod.ts";
import { workDir } from "./_work_dir.ts";

const usage =
  "usage: cloud-vm.ts [--key PRIVATE_KEY] [--user NAME] [--memory 1G] [--cpus 2] [--hostname NAME] [--user-data FILE] [--timeout SECONDS] [--exec CMD]";
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

/** Reads a file the user named, saying which permission is missing when Deno may not. */
async function readUserFile(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return fail(
        `${flag} ${path}: Deno may not read it; run deno run -P=cloud-vm --allow-read=${path}${
          flag === "--key" ? `,${path}.pub` : ""
        } recipes/cloud-vm.ts ...`,
      );
    }
    if (error instanceof Deno.errors.NotFound) return fail(`${flag} ${path}: no such file`);
    throw error;
  }
}
if (values.key !== undefined) await readUserFile("--key", `${values.key}.pub`);
const userData = values["user-data"] === undefined
  ? { packages: [], runcmd: ["echo cloud-vm: first boot done > /dev/ttyS0"] }
  : await readUserFile("--user-data", values["user-data"]);

const debian = await debianGuest();
await using work = await workDir("cloud-vm", "/tmp/vmkit-cloud-vm");
const overlay = `${work.path}/overlay.qcow2`;
await image.create(overlay, { backing: debian.image });

const stop = new AbortController();
const onSignal = () => stop.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

const started = performance.now();
let ready = false;
await using guest = await vm({ arch: "x86_64" }).memory(values.memory).smp(cpus)
  .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
  .drive(overlay)
  .cloudInit({ userData, metaData: { "local-hostname": values.hostname } })
  .ssh({ user: values.user, identity: values.key })
  .guestAgent()
  .launch({ runtimeDir: `${work.path}/vm`, timeout: 60_000 });
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
