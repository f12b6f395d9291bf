// Scratch directories and qcow2 images (made by qemu-img) for tests that attach disks.

/** A temporary directory, removed on dispose. */
export async function scratchDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Makes an image with qemu-img and returns its path. */
export async function qcow2(
  dir: string,
  name: string,
  size: string,
  format = "qcow2",
): Promise<string> {
  const path = `${dir}/${name}`;
  const { success, stderr } = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", format, path, size],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`qemu-img create failed: ${new TextDecoder().decode(stderr)}`);
  return path;
}
