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
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Wait until it holds the lock: qemu-img info without -U fails while it does.
  for (let i = 0; i < 100; i++) {
    const { success } = await new Deno.Command("qemu-img", {
      args: ["info", path],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    [Symbol.asyncDispose]: async () => {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}
