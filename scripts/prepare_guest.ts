/**
 * Builds the tiny guest's initramfs for each architecture in the cache and writes it to
 * `<cache>/<arch>/initrd.img`, only when its bytes change; for the host's architecture, when
 * the host has `/usr/sbin/qemu-ga` (package qemu-guest-agent), also the variant with the guest
 * agent, `initrd-agent.img` (a variant: it boots about 15-28% slower); for x86_64 also extracts the
 * PVH-bootable `vmlinux` from `vmlinuz` when it is missing. Run by `scripts/setup.sh`.
 *
 * Usage: deno run --allow-read --allow-write=CACHE scripts/prepare_guest.ts CACHE
 */
import { buildTinyGuestInitramfs, type TinyGuestArch } from "../lib/guest/tiny_guest.ts";
import { extractVmlinux } from "../lib/guest/vmlinux.ts";

const cacheDir = Deno.args[0];
if (cacheDir === undefined) {
  console.error("usage: prepare_guest.ts CACHE_DIR");
  Deno.exit(2);
}
async function writeIfChanged(path: string, image: Uint8Array): Promise<void> {
  const old = await Deno.readFile(path).catch(() => new Uint8Array());
  if (old.length === image.length && old.every((byte, i) => byte === image[i])) return;
  await Deno.writeFile(`${path}.tmp`, image);
  await Deno.rename(`${path}.tmp`, path);
}

const agent = "/usr/sbin/qemu-ga";
const hasAgent = await Deno.stat(agent).then((info) => info.isFile, () => false);
for (const arch of ["x86_64", "aarch64"] as TinyGuestArch[]) {
  await writeIfChanged(
    `${cacheDir}/${arch}/initrd.img`,
    await buildTinyGuestInitramfs(arch, { cacheDir }),
  );
  const variant = `${cacheDir}/${arch}/initrd-agent.img`;
  if (hasAgent && arch === Deno.build.arch) {
    await writeIfChanged(variant, await buildTinyGuestInitramfs(arch, { cacheDir, agent }));
  } else {
    await Deno.remove(variant).catch(() => {});
  }
}

// x86_64: the uncompressed kernel boots through PVH, skipping firmware setup and decompression.
const vmlinuz = `${cacheDir}/x86_64/vmlinuz`;
const vmlinux = `${cacheDir}/x86_64/vmlinux`;
const [zInfo, xInfo] = await Promise.all([
  Deno.stat(vmlinuz),
  Deno.stat(vmlinux).catch(() => null),
]);
if (xInfo === null || (xInfo.mtime ?? 0) < (zInfo.mtime ?? 0)) {
  const elf = await extractVmlinux(await Deno.readFile(vmlinuz));
  if (elf !== undefined) {
    await Deno.writeFile(`${vmlinux}.tmp`, elf);
    await Deno.rename(`${vmlinux}.tmp`, vmlinux);
  } else {
    await Deno.remove(vmlinux).catch(() => {});
  }
}
