// The tiny guest with more kernel modules than its own: for tests of devices whose drivers the
// tiny guest does not carry.

import { initramfs, tinyGuest, type TinyGuestArch, tinyGuestModules } from "../../mod.ts";

/**
 * Builds a busybox initramfs for the tiny guest's kernel with its own modules plus `boot`
 * (loaded at boot) and `onDemand` (loaded when their device shows up), written to `dir`.
 */
export async function tinyGuestWith(
  arch: TinyGuestArch,
  dir: string,
  modules: { boot?: string[]; onDemand?: string[] },
): Promise<{ kernel: string; initrd: string }> {
  const guest = await tinyGuest(arch);
  if (guest.modulesDir === undefined) {
    throw new Error(`the ${arch} tiny guest has no kernel modules; run ./scripts/setup.sh`);
  }
  let image = initramfs()
    .busybox(guest.busybox)
    .modules(guest.modulesDir, [...tinyGuestModules(arch), ...modules.onDemand ?? []]);
  if (modules.boot !== undefined) {
    image = image.modules(guest.modulesDir, modules.boot, { load: "boot" });
  }
  const initrd = `${dir}/initrd-${arch}.img`;
  await Deno.writeFile(initrd, await image.build());
  return { kernel: guest.kernel, initrd };
}
