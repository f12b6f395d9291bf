// A local Alpine repository for the emulator download tests: an APKINDEX.tar.gz and .apk files
// built here, in Alpine's layout (signature, control and data gzip members), served by
// Deno.serve on 127.0.0.1, with switches for the failures a real mirror can produce.
import { packTar } from "npm:modern-tar@^0.8.6";
import { concatBytes } from "../../lib/_bytes.ts";
import { gzip } from "../../lib/guest/_gzip.ts";

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function segment(tar: Uint8Array): Uint8Array {
  return tar.subarray(0, tar.length - 1024); // a tar segment has no end-of-archive blocks
}

async function signatureMember(): Promise<Uint8Array> {
  const signature = crypto.getRandomValues(new Uint8Array(256));
  return await gzip(
    segment(
      await packTar([{
        header: { name: ".SIGN.RSA.vmkit-test.rsa.pub", size: 256 },
        body: signature,
      }]),
    ),
  );
}

/** An .apk and the index fields that describe it. */
export interface TestApk {
  name: string;
  version: string;
  bytes: Uint8Array;
  checksum: string;
}

/** Builds a signed-layout .apk holding `files`. */
export async function buildApk(
  name: string,
  version: string,
  files: { name: string; data: Uint8Array; mode?: number }[],
): Promise<TestApk> {
  const pkginfo = `pkgname = ${name}\npkgver = ${version}\narch = x86_64\n`;
  const control = await gzip(
    segment(await packTar([{ header: { name: ".PKGINFO", size: pkginfo.length }, body: pkginfo }])),
  );
  const data = await gzip(
    await packTar(
      files.map((f) => ({
        header: { name: f.name, size: f.data.length, mode: f.mode ?? 0o755 },
        body: f.data,
      })),
    ),
  );
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-1", control as Uint8Array<ArrayBuffer>),
  );
  return {
    name,
    version,
    bytes: concatBytes([await signatureMember(), control, data]),
    checksum: `Q1${encodeBase64(digest)}`,
  };
}

/** Builds APKINDEX.tar.gz for packages, with optional overrides of their fields. */
export async function buildIndex(
  packages: { apk: TestApk; size?: number; checksum?: string }[],
): Promise<Uint8Array> {
  const text = packages.map(({ apk, size, checksum }) =>
    [
      `C:${checksum ?? apk.checksum}`,
      `P:${apk.name}`,
      `V:${apk.version}`,
      "A:x86_64",
      `S:${size ?? apk.bytes.length}`,
      "I:1000",
      "T:QEMU test package",
      "U:https://www.qemu.org/",
      "L:GPL-2.0-only",
      "",
    ].join("\n")
  ).join("\n");
  const description = "vmkit test repository";
  const index = await gzip(
    await packTar([
      { header: { name: "DESCRIPTION", size: description.length }, body: description },
      { header: { name: "APKINDEX", size: new TextEncoder().encode(text).length }, body: text },
    ]),
  );
  return concatBytes([await signatureMember(), index]);
}

/** How the server misbehaves for .apk requests. */
export type Misbehaviour = "none" | "truncate" | "stop-mid-body" | "not-found";

/** A running test repository. */
export interface TestRepository extends AsyncDisposable {
  mirror: string;
  requests: string[];
  files: Map<string, Uint8Array>;
  misbehave: Misbehaviour;
}

/** Serves `files` (paths under /alpine/latest-stable/community/x86_64/) on 127.0.0.1. */
export function serveRepository(files: Map<string, Uint8Array>): TestRepository {
  const prefix = "/alpine/latest-stable/community/x86_64/";
  const repo: Partial<TestRepository> & { requests: string[]; misbehave: Misbehaviour } = {
    requests: [],
    files,
    misbehave: "none",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    repo.requests.push(path);
    const body = path.startsWith(prefix) ? files.get(path.slice(prefix.length)) : undefined;
    const isApk = path.endsWith(".apk");
    if (body === undefined || (isApk && repo.misbehave === "not-found")) {
      return new Response("not found", { status: 404, statusText: "Not Found" });
    }
    if (isApk && repo.misbehave === "truncate") {
      return new Response(body.slice(0, body.length - 1000));
    }
    if (isApk && repo.misbehave === "stop-mid-body") {
      const half = body.slice(0, body.length >> 1);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
          setTimeout(() => controller.error(new Error("server stopped")), 50);
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    return new Response(body as Uint8Array<ArrayBuffer>);
  });
  repo.mirror = `http://127.0.0.1:${server.addr.port}/alpine`;
  repo[Symbol.asyncDispose] = async () => {
    await server.shutdown();
  };
  return repo as TestRepository;
}
