// Starts a QEMU with `-machine none` and a QMP server socket: an instant, real QMP peer.
export interface QemuPeer extends AsyncDisposable {
  path: string;
  process: Deno.ChildProcess;
  dir: string;
}

export async function startQemuPeer(extra: string[] = []): Promise<QemuPeer> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const path = `${dir}/qmp.sock`;
  const process = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-machine",
      "none",
      "-nodefaults",
      "-display",
      "none",
      "-qmp",
      `unix:${path},server=on,wait=off`,
      ...extra,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    try {
      await Deno.stat(path);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return {
    path,
    process,
    dir,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await process.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
