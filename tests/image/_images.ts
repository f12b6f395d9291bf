// Scratch directories and images made by qemu-img itself, for the image tests.

/** A temporary directory, removed on dispose. */
export async function scratchDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-image-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Runs qemu-img (or qemu-io) directly; throws with its stderr when it fails. */
export async function run(binary: "qemu-img" | "qemu-io", ...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(binary, { args }).output();
  if (!success) throw new Error(`${binary} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** `qemu-img info --output=json` of one file, as qemu-img prints it. */
export async function rawInfo(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await run("qemu-img", "info", "-U", "--output=json", path));
}

/** The names in a directory, sorted. */
export async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/**
 * A qcow2 overlay of `base` whose backing-format header extension is turned into an unknown
 * one (QEMU ignores those), so QEMU would probe the base: qemu-img itself no longer makes such
 * images.
 */
export async function unrecordedOverlay(path: string, base: string): Promise<string> {
  await run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", path);
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer);
  for (let offset = 72; offset < 4096; offset += 4) {
    if (view.getUint32(offset) === 0xe2792aca) {
      view.setUint32(offset, 0x12345678);
      await Deno.writeFile(path, bytes);
      return path;
    }
  }
  throw new Error(`no backing format extension in ${path}`);
}

/** Runs `qemu-io` on `path` holding it open (and locked) until disposed. */
export async function holdOpen(path: string): Promise<AsyncDisposable> {
  const child = new Deno.Command("qemu-io", {
    args: ["-f", "qcow2", "-c", "sleep 60000", path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  const stderr = new Response(child.stderr).text();
  // Wait until it has the image open (and so locked). Probing with qemu-img would take a lock
  // of its own, and one held just as qemu-io starts makes qemu-io fail ("Failed to get write
  // lock"): look at qemu-io's open files instead.
  const target = await Deno.realPath(path);
  const holds = async () => {
    try {
      for await (const fd of Deno.readDir(`/proc/${child.pid}/fd`)) {
        const link = await Deno.readLink(`/proc/${child.pid}/fd/${fd.name}`).catch(() => "");
        if (link === target) return true;
      }
    } catch {
      // Not started, or gone.
    }
    return false;
  };
  for (let i = 0; !await holds(); i++) {
    if (exited !== undefined) {
      throw new Error(`qemu-io exited (${exited.code}) before holding "${path}": ${await stderr}`);
    }
    if (i === 200) throw new Error(`qemu-io did not open "${path}" within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Opened: wait for its locks (QEMU's byte-range OFD locks) on the file's inode.
  const inode = (await Deno.stat(target)).ino;
  const locked = async () =>
    (await Deno.readTextFile("/proc/locks")).split("\n").some((line) =>
      new RegExp(`:${inode} `).test(line)
    );
  for (let i = 0; !await locked(); i++) {
    if (i === 200) throw new Error(`qemu-io did not lock "${path}" within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    [Symbol.asyncDispose]: async () => {
      if (exited === undefined) child.kill("SIGKILL");
      await child.status;
      await stderr;
    },
  };
}
