// A local HTTP server for image.fetch: serves one file in several ways, and records requests.

/** How the server answers. */
export type Behaviour =
  /** Takes Range requests (206, Accept-Ranges, a strong ETag). */
  | "ranged"
  /** Ignores Range: always the whole file with 200, no Accept-Ranges. */
  | "plain"
  /** Like "ranged", but the first response stops after half the bytes. */
  | "cut-once"
  /** Like "plain", and every response stops after half the bytes. */
  | "cut-plain"
  /** Like "ranged", but every response stops after 1000 bytes. */
  | "cut-always"
  /** Like "cut-once", but the file changes (and its ETag) after the first response. */
  | "changing"
  /** Sends 64 KiB every 50 ms. */
  | "slow";

/** A request the server saw. */
export interface SeenRequest {
  path: string;
  range: string | null;
  ifRange: string | null;
}

/** The running server. */
export interface TestServer extends AsyncDisposable {
  /** The URL of a behaviour's file: `http://127.0.0.1:port/<behaviour>/disk.img`. */
  url(behaviour: Behaviour | "missing"): string;
  requests: SeenRequest[];
}

/** Serves `bytes` (and `changed` for "changing" after its first response). */
export function serve(bytes: Uint8Array, changed?: Uint8Array): TestServer {
  const requests: SeenRequest[] = [];
  const counts = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const range = request.headers.get("range");
    const ifRange = request.headers.get("if-range");
    requests.push({ path, range, ifRange });
    const behaviour = path.split("/")[1] as Behaviour | "missing";
    const count = (counts.get(behaviour) ?? 0) + 1;
    counts.set(behaviour, count);
    if (behaviour === "missing") return new Response("no such image\n", { status: 404 });
    const file = behaviour === "changing" && count > 1 ? changed! : bytes;
    const etag = behaviour === "changing" && count > 1 ? '"v2"' : '"v1"';
    const ranged = behaviour !== "plain" && behaviour !== "cut-plain";
    const headers = new Headers({ "content-type": "application/octet-stream" });
    if (ranged) {
      headers.set("accept-ranges", "bytes");
      headers.set("etag", etag);
    }
    let start = 0;
    let status = 200;
    const match = /^bytes=(\d+)-$/.exec(range ?? "");
    if (ranged && match !== null && (ifRange === null || ifRange === etag)) {
      start = Number(match[1]);
      if (start >= file.length) {
        headers.set("content-range", `bytes */${file.length}`);
        return new Response(null, { status: 416, headers });
      }
      status = 206;
      headers.set("content-range", `bytes ${start}-${file.length - 1}/${file.length}`);
    }
    const body = file.subarray(start);
    headers.set("content-length", String(body.length));
    // A cut response announces the whole length and closes early: the client sees the
    // connection end mid-body.
    const cut = behaviour === "cut-plain" || (behaviour === "cut-once" && count === 1) ||
      (behaviour === "changing" && count === 1);
    const sent = behaviour === "cut-always"
      ? body.subarray(0, 1000)
      : cut
      ? body.subarray(0, Math.floor(body.length / 2))
      : body;
    if (behaviour === "slow") {
      let at = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          return new Promise((resolve) => {
            timer = setTimeout(() => {
              controller.enqueue(sent.slice(at, at + 65536));
              at += 65536;
              if (at >= sent.length) controller.close();
              resolve();
            }, 50);
          });
        },
        cancel() {
          clearTimeout(timer);
        },
      });
      return new Response(stream, { status, headers });
    }
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(sent.slice());
        controller.close();
      },
    });
    return new Response(stream, { status, headers });
  });
  return {
    url: (behaviour) => `http://127.0.0.1:${server.addr.port}/${behaviour}/disk.img`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** `sha256:<hex>` (or another algorithm) of `bytes`. */
export async function digestOf(bytes: Uint8Array, algorithm = "SHA-256"): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>),
  );
  const hex = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${algorithm.toLowerCase().replace("-", "")}:${hex}`;
}
