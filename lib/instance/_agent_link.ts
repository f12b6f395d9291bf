// A guest agent client on an instance's agent socket. GuestAgent.close() closes its connection
// and waits for its read loop to see that; the connection is unreferenced while idle, and the
// cancelled read of an unreferenced connection does not keep Deno's event loop alive, so in a
// program with nothing else pending the wait never ends ("Promise resolution is still pending
// but the event loop has already resolved"). Referencing the connection as it closes is the fix;
// until GuestAgent does it itself, this connection does.

import { GuestAgent } from "../agent/client.ts";

/** The connection, referenced again when it is closed. */
function referencedOnClose(conn: Deno.UnixConn): Deno.Conn {
  return new Proxy(conn, {
    get(target, key) {
      if (key === "close") {
        return () => {
          try {
            target.ref();
          } catch {
            // Closed already.
          }
          target.close();
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Connects a guest agent client to an agent socket QEMU serves. */
export async function connectAgent(path: string): Promise<GuestAgent> {
  const conn = await Deno.connect({ transport: "unix", path });
  return GuestAgent.fromLink({ conn: referencedOnClose(conn) });
}
