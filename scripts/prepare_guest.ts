/**
 * Builds the tiny guest's initramfs for each architecture in the cache and writes it to
 * `<cache>/<arch>/initrd.img`, only when its bytes change; for x86_64 also extracts the
 * PVH-bootable `vmlinux` from `vmlinuz` when it is missing. Run by `scripts/setup.sh`.
 *
 * Usage: deno run --allow-read=CACHE --allow-write=CACHE scripts/prepare_guest.ts CACHE
 */
import { buildTinyGuestInitramfs, type TinyGuestArch } from "../lib/guest/tiny_guest.ts";
import { extractVmlinux } from "../lib/guest/vmlinux.ts";

const cacheDir = Deno.args[0];
if (cacheDir === undefined) {
  console.error("usage: prepare_guest.ts CACHE_DIR");
  Deno.exit(2);
}
for (const arch of ["x86_64", "aarch64"] as TinyGuestArch[]) {
  const image = await buildTinyGuestInitramfs(arch, { cacheDir });
  const path = `${cacheDir}/${arch}/initrd.img`;
  const old = await Deno.readFile(path).catch(() => new Uint8Array());
  if (old.length === image.length && old.every((byte, i) => byte === image[i])) continue;
  await Deno.writeFile(`${path}.tmp`, image);
  await Deno.rename(`${path}.tmp`, path);
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
