import assert from "node:assert/strict";
import { forwardedPort, usernetForwards } from "../../lib/ssh/forwarded_port.ts";
import { qemuWithForwards } from "./_qemu_forwards.ts";

Deno.test("QEMU 7.2 binds a host forward written with port 0 to a free port, and forwardedPort reads it from info usernet", async () => {
  await using qemu = await qemuWithForwards([
    JSON.stringify({
      type: "user",
      id: "net0",
      hostfwd: [{ str: "tcp:127.0.0.1:0-:22" }, { str: "tcp:127.0.0.1:0-:80" }],
    }),
  ]);
  const port = await forwardedPort(qemu.qmp, { guestPort: 22, timeout: 5000 });
  assert.ok(port > 0 && port < 65536);
  assert.notEqual(port, await forwardedPort(qemu.qmp, { guestPort: 80 }));
  // It is QEMU that listens there: binding it again fails, connecting succeeds.
  assert.throws(
    () => Deno.listen({ hostname: "127.0.0.1", port }),
    Deno.errors.AddrInUse,
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  await assert.rejects(
    () => forwardedPort(qemu.qmp, { guestPort: 23 }),
    RangeError,
    "Cannot find the host port forwarded to guest tcp port 23: QEMU has tcp:127.0.0.1:",
  );
});

Deno.test("forwardedPort reads a forward added at run time with hostfwd_add, and needs netdev when two networks forward the same guest port", async () => {
  await using qemu = await qemuWithForwards([
    JSON.stringify({ type: "user", id: "net0" }),
    JSON.stringify({ type: "user", id: "net1", hostfwd: [{ str: "tcp::0-:22" }] }),
  ]);
  await qemu.qmp.hmp("hostfwd_add net0 tcp:127.0.0.1:0-:22");
  await assert.rejects(
    () => forwardedPort(qemu.qmp, { guestPort: 22 }),
    RangeError,
    "name the network with netdev",
  );
  const first = await forwardedPort(qemu.qmp, { guestPort: 22, netdev: "net0" });
  const second = await forwardedPort(qemu.qmp, { guestPort: 22, netdev: "net1" });
  assert.notEqual(first, second);
  const forwards = usernetForwards(await qemu.qmp.hmp("info usernet"));
  assert.deepEqual(forwards, [
    {
      netdev: "net0",
      protocol: "tcp",
      hostAddress: "127.0.0.1",
      hostPort: first,
      guestAddress: "10.0.2.15",
      guestPort: 22,
    },
    {
      netdev: "net1",
      protocol: "tcp",
      hostAddress: "*",
      hostPort: second,
      guestAddress: "10.0.2.15",
      guestPort: 22,
    },
  ]);
});
