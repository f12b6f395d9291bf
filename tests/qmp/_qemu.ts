// Starts a QEMU with `-machine none` and a QMP server socket: an instant, real QMP peer.
export interface QemuPeer extends AsyncDisposable {
  /** The QMP address: the unix socket path, or `127.0.0.1:PORT` with `tcp`. */
  address: string;
  /** With `monitors`, the socket path of each QMP monitor (the first is `address`). */
  addresses: string[];
  process: Deno.ChildProcess;
}

/** Starts the peer and waits until its QMP socket accepts connections. */
export async function startQemuPeer(
  options: { tcp?: boolean; monitors?: number } = {},
): Promise<QemuPeer> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  let address = `${dir}/qmp.sock`;
  let qmp = `unix:${address},server=on,wait=off`;
  // Further unix-socket monitors, each serving a client of its own.
  const addresses = [address];
  const more: string[] = [];
  for (let i = 1; i < (options.monitors ?? 1); i++) {
    addresses.push(`${dir}/qmp${i}.sock`);
    more.push("-qmp", `unix:${dir}/qmp${i}.sock,server=on,wait=off`);
  }
  let target: Deno.ConnectOptions | Deno.UnixConnectOptions = { transport: "unix", path: address };
  if (options.tcp) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    address = `127.0.0.1:${port}`;
    qmp = `tcp:${address},server=on,wait=off`;
    target = { hostname: "127.0.0.1", port };
  }
  const process = new Deno.Command("qemu-system-x86_64", {
    args: ["-machine", "none", "-nodefaults", "-display", "none", "-qmp", qmp, ...more],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    // A probe connection: QEMU greets it, sees it close, and waits for the next client.
    const conn = await Deno.connect(target as Deno.ConnectOptions).catch(() => undefined);
    if (conn !== undefined) {
      conn.close();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (const path of addresses.slice(1)) {
    for (let i = 0; i < 200 && !(await Deno.stat(path).catch(() => null)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return {
    address,
    addresses,
    process,
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
