/**
 * Builds the tiny guest's initramfs for each architecture in the cache and writes it to
 * `<cache>/<arch>/initrd.img`, only when its bytes change. Run by `scripts/setup.sh`.
 *
 * Usage: deno run --allow-read=CACHE --allow-write=CACHE scripts/prepare_guest.ts CACHE
 */
import { buildTinyGuestInitramfs, type TinyGuestArch } from "../lib/guest/tiny_guest.ts";

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
