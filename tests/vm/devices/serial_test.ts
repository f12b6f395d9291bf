import assert from "node:assert/strict";
import { tinyGuest, vm } from "../../../mod.ts";
import { scratchDir } from "../_disks.ts";

Deno.test("extra serial ports reach a file, a unix socket and a pty on the host", async () => {
  await using dir = await scratchDir();
  const g = await tinyGuest("x86_64");
  const socketPath = `${dir.path}/serial.sock`;
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .chardev("log", { backend: "file", path: `${dir.path}/serial,1.log` }).serial("log")
    .chardev("sock", { backend: "socket", path: socketPath }).serial("sock")
    .chardev("tty", { backend: "pty" }).serial("tty")
    .launch({ timeout: 60_000 });
  // QEMU listens on the socket (server, no wait); connect before the guest writes.
  using conn = await Deno.connect({ transport: "unix", path: socketPath });
  const chardevs = await machine.qmp.execute("query-chardev");
  const pty = chardevs.find((c) => c.label === "tty")!.filename.replace(/^pty:/, "");
  assert.match(pty, /^\/dev\/pts\/\d+$/);
  using ptyFile = await Deno.open(pty, { read: true });
  await machine.console.exec(
    "stty -F /dev/ttyS2 raw -echo; echo to-file > /dev/ttyS1; echo to-socket > /dev/ttyS2; echo to-pty > /dev/ttyS3",
  );
  const readLine = async (reader: { read(p: Uint8Array): Promise<number | null> }) => {
    let text = "";
    const buffer = new Uint8Array(256);
    while (!text.includes("\n")) {
      const n = await reader.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.replace(/\r/g, "").trim();
  };
  assert.equal(await readLine(conn), "to-socket");
  assert.equal(await readLine(ptyFile), "to-pty");
  assert.equal(
    (await Deno.readTextFile(`${dir.path}/serial,1.log`)).replace(/\r/g, ""),
    "to-file\n",
  );
});
