/**
 * The Debian guest: a bookworm root filesystem built from Debian packages by
 * `scripts/debian_image.sh` (run by `scripts/setup.sh`), with cloud-init, the QEMU guest agent
 * and OpenSSH: booted with its own kernel and initrd (`image`), or by UEFI firmware from a GPT
 * disk with systemd-boot (`uefiImage`), both holding the same root filesystem.
 *
 * @module
 */

import { defaultCacheDir } from "./tiny_guest.ts";

/** Paths and settings to boot the Debian guest. */
export interface DebianGuest {
  /** The root filesystem image (qcow2, ext4 labelled `root`): use it as an overlay's base. */
  image: string;
  /**
   * The same root filesystem on a whole disk for UEFI firmware (qcow2): a GPT with an EFI
   * system partition (systemd-boot as `EFI/BOOT/BOOTX64.EFI`, the kernel and initrd, a loader
   * entry booting `root=PARTUUID=` of the second partition with `console=ttyS0`) and the root
   * partition. Boot an overlay of it with `.firmware("uefi")` and no `.kernel()`. The kernel
   * it boots is the one on the ESP: a kernel upgraded inside the guest is not booted.
   */
  uefiImage: string;
  /** Its kernel (Debian's cloud kernel). */
  kernel: string;
  /**
   * Its initrd: vmkit's own, not Debian's (about 3 s faster under TCG). It loads the disk
   * drivers (virtio-blk, virtio-scsi, NVMe), mounts the root filesystem named by `root=` (a
   * device path, `LABEL=` or `UUID=`; `rootfstype=`, `rootflags=`, `rootdelay=` seconds, default
   * 10), read-only unless the command line says `rw`, and starts `init=` (default `/sbin/init`).
   * It runs no fsck (systemd checks a root mounted read-only) and knows no `PARTUUID=`: the UEFI
   * disk boots Debian's own initrd. A root it cannot mount is named on the console, and the
   * kernel panics.
   */
  initrd: string;
  /** The kernel command line it needs: the root filesystem on the first virtio disk. */
  append: string;
}

/** Options of {@linkcode debianGuest}. */
export interface DebianGuestOptions {
  /** Cache directory `scripts/setup.sh` filled. Default: {@linkcode defaultCacheDir}. */
  cacheDir?: string;
}

/**
 * Locates the Debian guest built by `scripts/debian_image.sh`.
 *
 * @param options Cache directory.
 * @returns The image, UEFI disk image, kernel and initrd paths, and the kernel command line.
 * @throws {Deno.errors.NotFound} When it has not been built: the message says how.
 *
 * @example
 * ```ts
 * import { debianGuest, vm } from "@vmkit/vmkit";
 * const debian = await debianGuest();
 * // Boot an overlay over the image, never the image itself.
 * await using guest = await vm({ arch: "x86_64" }).memory("1G")
 *   .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
 *   .drive("overlay.qcow2")
 *   .launch();
 * // Or the whole disk, booted by UEFI firmware and systemd-boot.
 * await using uefi = await vm({ arch: "x86_64" }).memory("1G").firmware("uefi")
 *   .drive("uefi-overlay.qcow2")
 *   .launch();
 * ```
 */
export async function debianGuest(options: DebianGuestOptions = {}): Promise<DebianGuest> {
  const dir = `${options.cacheDir ?? defaultCacheDir()}/debian`;
  const guest: DebianGuest = {
    image: `${dir}/root.qcow2`,
    uefiImage: `${dir}/uefi.qcow2`,
    kernel: `${dir}/vmlinuz`,
    initrd: `${dir}/initrd.img`,
    append: "root=/dev/vda rw",
  };
  try {
    await Deno.stat(`${dir}/.complete`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot use the Debian guest: "${dir}" has not been built; run ./scripts/setup.sh (or scripts/debian_image.sh, as root)`,
      );
    }
    throw error;
  }
  return guest;
}
