// The real qemu-ga, run on this host on a unix socket in a temp directory: the program and the
// replies a guest's agent gives, without a guest boot. Only commands that cannot change the host
// beyond files and programs the test asks for run; every other one is blocked (-b).

import { QGA_COMMAND_NAMES } from "../../lib/agent/qga.ts";

/** Commands the host's agent may run; the rest are blocked. */
export const HOST_SAFE_COMMANDS: ReadonlySet<string> = new Set([
  "guest-exec",
  "guest-exec-status",
  "guest-file-close",
  "guest-file-flush",
  "guest-file-open",
  "guest-file-read",
  "guest-file-seek",
  "guest-file-write",
  "guest-fsfreeze-status",
  "guest-get-cpustats",
  "guest-get-disks",
  "guest-get-diskstats",
  "guest-get-fsinfo",
  "guest-get-host-name",
  "guest-get-memory-block-info",
  "guest-get-memory-blocks",
  "guest-get-osinfo",
  "guest-get-time",
  "guest-get-timezone",
  "guest-get-users",
  "guest-get-vcpus",
  "guest-info",
  "guest-network-get-interfaces",
  "guest-ping",
  "guest-sync",
  "guest-sync-delimited",
]);

/** A qemu-ga listening on `socket`, in `dir`. */
export interface HostAgent extends AsyncDisposable {
  dir: string;
  socket: string;
  /** Connects to it, retrying while it starts. */
  connect(): Promise<Deno.UnixConn>;
  /** Sends the agent a signal (SIGSTOP makes it late, SIGCONT lets it answer). */
  signal(signal: Deno.Signal): void;
}

/** Starts qemu-ga on a unix socket in a new temp directory; disposing stops it and removes both. */
export async function startHostAgent(): Promise<HostAgent> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-qga-" });
  const socket = `${dir}/qga.sock`;
  const blocked = QGA_COMMAND_NAMES.filter((name) => !HOST_SAFE_COMMANDS.has(name));
  const process = new Deno.Command("qemu-ga", {
    args: [
      ...["-m", "unix-listen", "-p", socket, "-f", `${dir}/pid`, "-t", dir],
      ...["-l", `${dir}/log`, "-b", blocked.join(",")],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped: Promise<void> | undefined;
  return {
    dir,
    socket,
    async connect() {
      for (let i = 0;; i++) {
        try {
          return await Deno.connect({ transport: "unix", path: socket });
        } catch (error) {
          if (i === 100) {
            throw new Error(
              `qemu-ga did not listen: ${await Deno.readTextFile(`${dir}/log`).catch(() => "")}`,
              { cause: error },
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    signal(signal) {
      process.kill(signal);
    },
    [Symbol.asyncDispose]() {
      stopped ??= (async () => {
        try {
          process.kill("SIGKILL");
        } catch {
          // Exited.
        }
        await process.status;
        await Deno.remove(dir, { recursive: true });
      })();
      return stopped;
    },
  };
}
