// A QEMU with user networks and no guest running (-S): its forwards accept connections that the
// guest never answers.

import { QmpClient } from "../../lib/qmp/client.ts";

/** A QEMU with no guest, its user networks forwarding as given, and a QMP socket. */
export async function qemuWithForwards(netdevs: string[]): Promise<
  { qmp: QmpClient } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-S",
      "-nodefaults",
      "-display",
      "none",
      "-machine",
      "q35",
      ...netdevs.flatMap((netdev, i) => [
        "-netdev",
        netdev,
        "-device",
        `virtio-net-pci,netdev=${JSON.parse(netdev).id},id=nic${i}`,
      ]),
      "-qmp",
      `unix:${dir}/qmp.sock,server=on,wait=off`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    for (let i = 0; i < 400 && !(await Deno.stat(`${dir}/qmp.sock`).catch(() => null)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const qmp = await QmpClient.connect(`${dir}/qmp.sock`, { timeout: 20_000 });
    return {
      qmp,
      async [Symbol.asyncDispose]() {
        await qmp.close();
        child.kill("SIGKILL");
        await child.status;
        await stderr;
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
    throw new Error(`QEMU did not start: ${await stderr}`, { cause: error });
  }
}
