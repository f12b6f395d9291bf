// The fixed scratch directory of a recipe: fixed so its permission set in deno.json can grant
// exactly it, made fresh (a leftover one means another run may be using it), and removed when
// the recipe ends.

/** A recipe's scratch directory; removed on dispose. */
export async function workDir(
  recipe: string,
  path: string,
): Promise<AsyncDisposable & { path: string }> {
  try {
    await Deno.mkdir(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    console.error(`${recipe}: ${path} exists; another run may be using it (remove it if not)`);
    Deno.exit(1);
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Makes a disk image with qemu-img; returns its path. */
export async function createImage(path: string, size: string): Promise<string> {
  const { success, stderr } = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", path, size],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`Cannot create "${path}": qemu-img: ${new TextDecoder().decode(stderr)}`);
  }
  return path;
}
