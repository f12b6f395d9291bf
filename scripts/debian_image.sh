#!/usr/bin/env bash
# Builds vmkit's Debian bookworm guest from Debian packages (mmdebstrap, as root, no loop
# devices), as two images of one root filesystem (ext4 made once with `mkfs.ext4 -d`):
#   root.qcow2  the bare filesystem, booted with the kernel and initrd beside it (-kernel); that
#               initrd is vmkit's own (scripts/debian_initrd.ts: busybox, the disk drivers, an
#               init that mounts root= and starts systemd), ~3 s faster under TCG than Debian's;
#   uefi.qcow2  a GPT disk: an EFI system partition (FAT made with mkfs.vfat and filled with
#               mtools) holding systemd-boot as EFI/BOOT/BOOTX64.EFI, the kernel and Debian's
#               own initrd (initramfs-tools: root=PARTUUID=, fsck), then the same filesystem
#               dd'd into the root partition; booted by UEFI firmware.
# cloud-init (NoCloud, ConfigDrive), the QEMU guest agent and OpenSSH are in it.
# Usage: scripts/debian_image.sh [OUT_DIR] (default .cache/vmkit/debian).
# Idempotent: rebuilds only when this recipe, the initrd's or vmkit's kernel options changed
# (their hash is in OUT_DIR/manifest).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="${1:-${VMKIT_CACHE_DIR:-$root/.cache/vmkit}/debian}"
# lib/vm/arch.ts gives the UEFI entry's kernel options.
recipe=$(cat "${BASH_SOURCE[0]}" "$root/scripts/debian_initrd.ts" "$root/lib/vm/arch.ts" | sha256sum | cut -d' ' -f1)
say() { printf 'debian-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

if [ -f "$out/.complete" ] && grep -qx "recipe $recipe" "$out/manifest" 2>/dev/null; then
  exit 0
fi
[ "$(id -u)" = 0 ] || die "Cannot build the Debian image: mmdebstrap needs root here (no user namespaces); run: sudo $0"
PATH="$PATH:/usr/sbin:/sbin"
command -v deno >/dev/null 2>&1 || die "Cannot build the Debian image: deno is missing (it builds the initrd); run scripts/setup.sh, which installs it"
for tool in mmdebstrap mkfs.ext4 qemu-img sfdisk mkfs.vfat mcopy; do
  command -v "$tool" >/dev/null 2>&1 || die "Cannot build the Debian image: $tool is missing; install it with: apt-get install mmdebstrap e2fsprogs qemu-utils fdisk dosfstools mtools"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-debian-XXXXXX")
trap 'rm -rf "$work"' EXIT
packages=systemd-sysv,udev,linux-image-cloud-amd64,initramfs-tools,busybox-static,cloud-init,qemu-guest-agent,openssh-server,sudo,iproute2,dbus,ifupdown,isc-dhcp-client,systemd-boot-efi
# The root partition's GPT id (the UEFI entry boots root=PARTUUID=), fixed so the build is
# reproducible; every copy of the image carries it, as every copy carries the label "root".
root_partuuid=6a1f3b52-8c1e-4d2a-9b3f-7e5d0c4a1b01
say "mmdebstrap bookworm ($packages)"
# cloud-init fails its config stage without a locale; four host key types cost ~12 s under TCG;
# an initrd with only the modules a virtio guest needs boots ~3 s faster. grub-dpkg probes for
# a GRUB that is not there (~2 s). e2scrub_reap looks for LVM snapshots there are none of, and
# ran for 16 s of a 60 s boot. The guest agent starts once the local filesystems are up, not
# after cloud-init's network stage (sysinit.target waits for it): it answered ~30 s earlier
# under TCG. The root filesystem is named by label in fstab, so both images boot it. /etc/hosts
# follows the seed's hostname (manage_etc_hosts), or sudo warns it cannot resolve it.
# update-initramfs is a no-op while the packages install (the kernel's postinst and dpkg's
# triggers would each build an initrd with every module): it runs once, with the module list.
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
  --essential-hook='ln -s /bin/true "$1/usr/sbin/update-initramfs"' \
  --customize-hook='echo LANG=C.UTF-8 > "$1/etc/default/locale"' \
  --customize-hook='echo vmkit-debian > "$1/etc/hostname"' \
  --customize-hook='printf "LABEL=root / ext4 defaults,discard 0 1\n" > "$1/etc/fstab"' \
  --customize-hook='printf "datasource_list: [NoCloud, ConfigDrive, None]\nssh_genkeytypes: [ed25519]\ngrub_dpkg: {enabled: false}\nmanage_etc_hosts: true\n" > "$1/etc/cloud/cloud.cfg.d/90-vmkit.cfg"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/e2scrub_reap.service"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/e2scrub_all.timer"' \
  --customize-hook='mkdir -p "$1/etc/systemd/system/qemu-guest-agent.service.d"' \
  --customize-hook='printf "[Unit]\nDefaultDependencies=no\nAfter=local-fs.target\nConflicts=shutdown.target\nBefore=shutdown.target\n" > "$1/etc/systemd/system/qemu-guest-agent.service.d/early.conf"' \
  --customize-hook='sed -i "s/^MODULES=.*/MODULES=list/" "$1/etc/initramfs-tools/initramfs.conf"' \
  --customize-hook='printf "virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\next4\n" >> "$1/etc/initramfs-tools/modules"' \
  --customize-hook='rm "$1/usr/sbin/update-initramfs"' \
  --customize-hook='chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
  --customize-hook='chroot "$1" update-initramfs -c -k "$(cd "$1/boot" && ls vmlinuz-* | sed "s/^vmlinuz-//")" >/dev/null' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  bookworm "$work/rootfs" >&2

say "initrd (scripts/debian_initrd.ts), mkfs.ext4 -d"
cp "$work"/rootfs/boot/vmlinuz-* "$work/vmlinuz"
cp "$work"/rootfs/boot/initrd.img-* "$work/debian-initrd.img"
deno run --quiet --allow-read="$work" --allow-write="$work" "$root/scripts/debian_initrd.ts" "$work/rootfs" "$work/initrd.img"
kernel=$(basename "$work"/rootfs/boot/vmlinuz-*)
truncate -s 4G "$work/root.raw"
mkfs.ext4 -q -L root -d "$work/rootfs" "$work/root.raw"

say "EFI system partition (mkfs.vfat, mtools), GPT disk (sfdisk, dd)"
esp_mib=64
truncate -s "${esp_mib}M" "$work/esp.raw"
mkfs.vfat -F 32 -n ESP "$work/esp.raw" >/dev/null
printf 'default debian.conf\ntimeout 0\neditor no\n' >"$work/loader.conf"
# The kernel options vmkit gives a kernel it boots itself (lib/vm/arch.ts), which -kernel cannot
# pass to a disk: quiet, and no TSC synchronisation check (under TCG it finds the vCPUs' TSCs
# unsynchronised and moves to the HPET; the boot to ssh took 5-10 s longer without them).
append=$(cd "$root" && deno eval --quiet \
  'import { archProfile, fastKernelAppend } from "./lib/vm/arch.ts"; console.log(fastKernelAppend(archProfile("x86_64")))')
printf 'title Debian (vmkit)\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTUUID=%s rw console=ttyS0 %s\n' \
  "$root_partuuid" "$append" >"$work/debian.conf"
export MTOOLS_SKIP_CHECK=1
mmd -i "$work/esp.raw" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$work/esp.raw" "$work/rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.raw" "$work/vmlinuz" ::/
mcopy -i "$work/esp.raw" "$work/debian-initrd.img" ::/initrd.img
mcopy -i "$work/esp.raw" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$work/esp.raw" "$work/debian.conf" ::/loader/entries/debian.conf
# 1 MiB for the GPT, the ESP, the root filesystem, 1 MiB for the backup GPT.
root_mib=$(($(stat -c %s "$work/root.raw") / 1048576))
truncate -s "$((1 + esp_mib + root_mib + 1))M" "$work/uefi.raw"
sfdisk --quiet "$work/uefi.raw" <<SFDISK
label: gpt
unit: sectors
start=2048, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP
start=$(((1 + esp_mib) * 2048)), size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$root_partuuid, name=root
SFDISK
dd if="$work/esp.raw" of="$work/uefi.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.raw" of="$work/uefi.raw" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none

say "qemu-img convert"
qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
qemu-img convert -O qcow2 "$work/uefi.raw" "$work/uefi.qcow2"
mkdir -p "$out"
rm -f "$out/.complete"
mv "$work/root.qcow2" "$work/uefi.qcow2" "$work/vmlinuz" "$work/initrd.img" "$out/"
printf 'recipe %s\nkernel %s\nroot-partuuid %s\n' "$recipe" "$kernel" "$root_partuuid" >"$out/manifest"
touch "$out/.complete"
say "done: $out ($(du -sh "$out" | cut -f1))"
