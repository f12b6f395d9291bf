/**
 * Disk-less cloud-init seeding: a NoCloud seed served over HTTP to a VM on user-mode networking,
 * found by cloud-init through the SMBIOS serial `ds=nocloud-net;s=http://10.0.2.2:PORT/`.
 *
 * @module
 */

import type { CloudInitSeed } from "./cloud_init.ts";

/** Options of {@linkcode serveCloudInit}. */
export interface ServeCloudInitOptions {
  /**
   * The host port; default a free one. The server listens on 127.0.0.1 only: a guest on
   * user-mode networking reaches it at 10.0.2.2, nothing else can.
   */
  port?: number;
}

/** A NoCloud seed served over HTTP; dispose of it (`await using`) with its VM. */
export interface CloudInitServer extends AsyncDisposable {
  /** The seed's URL on the host: `http://127.0.0.1:PORT/`. */
  readonly url: string;
  /**
   * What the guest's cloud-init reads from the SMBIOS system serial number:
   * `ds=nocloud-net;s=http://10.0.2.2:PORT/` (`nocloud-net`, which cloud-init 22.4 in Debian 12
   * needs for a seed over the network; newer ones also take `nocloud`). Pass it to
   * `.smbios({ type: 1, serial })`.
   */
  readonly serial: string;
  /** Paths the guest asked for, in order (`/meta-data`, `/user-data`, ...). */
  readonly requests: readonly string[];
  /** Stops serving. */
  close(): Promise<void>;
}

/**
 * Serves a NoCloud seed (from `cloudInit()`) over HTTP for a VM on user-mode networking, so it
 * needs no seed disk.
 *
 * @param seed A NoCloud seed (`cidata`); a ConfigDrive seed cannot be served.
 * @param options The port.
 * @returns The running server, with the SMBIOS serial to give the VM.
 * @throws {TypeError} For a ConfigDrive seed.
 *
 * @example
 * ```ts
 * import { cloudInit, serveCloudInit, vm } from "@vmkit/vmkit";
 * await using seed = await serveCloudInit(cloudInit({ userData: { runcmd: ["true"] } }));
 * await using guest = await vm({ arch: "x86_64" }).network({ type: "user" })
 *   .smbios({ type: 1, serial: seed.serial }) // ...kernel and disk of a cloud image
 *   .launch();
 * ```
 */
export function serveCloudInit(
  seed: CloudInitSeed,
  options: ServeCloudInitOptions = {},
): Promise<CloudInitServer> {
  // A refusal rejects, as the start-up of a server would.
  return Promise.resolve().then(() => startServer(seed, options));
}

function startServer(seed: CloudInitSeed, options: ServeCloudInitOptions): CloudInitServer {
  if (seed.label !== "cidata") {
    throw new TypeError(
      `Cannot serve a "${seed.label}" seed over HTTP: cloud-init fetches only NoCloud seeds (cloudInit()); attach a ConfigDrive seed as a disk`,
    );
  }
  const files = new Map(Object.entries(seed.files).map(([name, text]) => [`/${name}`, text]));
  // cloud-init retries a vendor-data that answers 404 (eleven times, measured: seconds of
  // boot); an empty one is "none" at once.
  if (!files.has("/vendor-data")) files.set("/vendor-data", "");
  const requests: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
  }, (request) => {
    const path = new URL(request.url).pathname;
    requests.push(path);
    const text = files.get(path);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("only GET\n", { status: 405 });
    }
    return text === undefined
      ? new Response("not in this seed\n", { status: 404 })
      : new Response(text, { headers: { "content-type": "text/plain; charset=utf-8" } });
  });
  // An idle seed server does not keep a finished script alive.
  server.unref();
  const port = server.addr.port;
  let closed: Promise<void> | undefined;
  const close = () => closed ??= server.shutdown();
  return {
    url: `http://127.0.0.1:${port}/`,
    serial: `ds=nocloud-net;s=http://10.0.2.2:${port}/`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}
