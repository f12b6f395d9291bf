// A real OpenSSH server for the ssh tests: /usr/sbin/sshd (Debian's openssh-server) run as a
// child on 127.0.0.1 with its own config, host key and authorized key in a temporary directory;
// the system's sshd configuration is not touched. Killed and removed on dispose.

import { generateSshKey, type SshKey } from "../../lib/ssh/key.ts";

export interface TestSshd extends AsyncDisposable {
  /** The temporary directory with everything in it. */
  dir: string;
  port: number;
  /** The user to log in as. */
  user: string;
  /** The client key the server accepts. */
  key: SshKey;
  /** The server's host key line, `ssh-ed25519 AAAA... comment`. */
  hostKey: string;
  /** Everything sshd logged (-e), so far. */
  log(): string;
}

/** Starts sshd on a free port and waits until it says it listens. */
export async function startSshd(): Promise<TestSshd> {
  // sshd running as root checks its privilege separation directory exists; systemd makes it
  // (RuntimeDirectory=sshd) where sshd runs as a service.
  await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await Deno.makeTempDir({ prefix: "vmkit-sshd-" });
  try {
    const hostKey = await generateSshKey(dir, { name: "host_ed25519", comment: "root@testhost" });
    const key = await generateSshKey(dir, { comment: "vmkit@test" });
    await Deno.writeTextFile(`${dir}/authorized_keys`, `${key.publicKey}\n`);
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey.privateKey}`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PidFile none",
        "UsePAM no",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxStartups 100",
        "MaxSessions 100",
        "",
      ].join("\n"),
    );
    // A free port can be taken between choosing and binding: sshd then says so, and another
    // port is tried.
    for (let attempt = 0; attempt < 5; attempt++) {
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = probe.addr.port;
      probe.close();
      const started = await spawn(dir, port);
      if (started !== undefined) {
        return {
          dir,
          port,
          user: "root",
          key,
          hostKey: hostKey.publicKey,
          log: started.log,
          async [Symbol.asyncDispose]() {
            try {
              started.child.kill("SIGTERM");
            } catch {
              // Exited already.
            }
            await started.child.status;
            await started.reading;
            await Deno.remove(dir, { recursive: true });
          },
        };
      }
    }
    throw new Error("sshd could not bind a port in 5 attempts");
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function spawn(
  dir: string,
  port: number,
): Promise<
  { child: Deno.ChildProcess; log: () => string; reading: Promise<void> } | undefined
> {
  const child = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`, "-p", String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const { promise: ready, resolve: listening } = Promise.withResolvers<void>();
  const reading = (async () => {
    for await (const piece of child.stderr.pipeThrough(new TextDecoderStream())) {
      text += piece;
      if (text.includes(`Server listening on 127.0.0.1 port ${port}.`)) listening();
    }
  })();
  const ended = child.status.then(() => "ended" as const);
  const first = await Promise.race([ready.then(() => "ready" as const), ended]);
  if (first === "ready") return { child, log: () => text, reading };
  await reading;
  if (/Address already in use|Bind to port/.test(text)) return undefined;
  throw new Error(`sshd did not start: ${text}`);
}
