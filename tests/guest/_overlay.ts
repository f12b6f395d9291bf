// qcow2 overlays over a base image, made with qemu-img, for tests that boot a real guest.

/** Makes `overlay.qcow2` in `dir` over `base` (a qcow2), and returns its path. */
export async function qcow2Overlay(dir: string, base: string): Promise<string> {
  const path = `${dir}/overlay.qcow2`;
  const { success, stderr } = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`qemu-img create failed: ${new TextDecoder().decode(stderr)}`);
  return path;
}
