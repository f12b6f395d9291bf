#!/usr/bin/env bash
# Builds vmkit's Debian bookworm guest from Debian packages (mmdebstrap, as root, no loop
# devices): a qcow2 root filesystem (ext4 made with `mkfs.ext4 -d`), with the kernel and initrd
# beside it for a direct kernel boot. cloud-init (NoCloud, ConfigDrive), the QEMU guest agent and
# OpenSSH are in it. Usage: scripts/debian_image.sh [OUT_DIR] (default .cache/vmkit/debian).
# Idempotent: rebuilds only when this recipe changed (its hash is in OUT_DIR/manifest).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="${1:-${VMKIT_CACHE_DIR:-$root/.cache/vmkit}/debian}"
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
say() { printf 'debian-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

if [ -f "$out/.complete" ] && grep -qx "recipe $recipe" "$out/manifest" 2>/dev/null; then
  exit 0
fi
[ "$(id -u)" = 0 ] || die "Cannot build the Debian image: mmdebstrap needs root here (no user namespaces); run: sudo $0"
for tool in mmdebstrap mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null 2>&1 || die "Cannot build the Debian image: $tool is missing; install it with: apt-get install mmdebstrap e2fsprogs qemu-utils"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-debian-XXXXXX")
trap 'rm -rf "$work"' EXIT
packages=systemd-sysv,udev,linux-image-cloud-amd64,initramfs-tools,cloud-init,qemu-guest-agent,openssh-server,iproute2,dbus,ifupdown,isc-dhcp-client
say "mmdebstrap bookworm ($packages)"
# cloud-init fails its config stage without a locale; four host key types cost ~12 s under TCG;
# an initrd with only the modules a virtio guest needs boots ~3 s faster.
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --customize-hook='echo LANG=C.UTF-8 > "$1/etc/default/locale"' \
  --customize-hook='echo vmkit-debian > "$1/etc/hostname"' \
  --customize-hook='printf "/dev/vda / ext4 defaults,discard 0 1\n" > "$1/etc/fstab"' \
  --customize-hook='printf "datasource_list: [NoCloud, ConfigDrive, None]\nssh_genkeytypes: [ed25519]\n" > "$1/etc/cloud/cloud.cfg.d/90-vmkit.cfg"' \
  --customize-hook='sed -i "s/^MODULES=.*/MODULES=list/" "$1/etc/initramfs-tools/initramfs.conf"' \
  --customize-hook='printf "virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\next4\n" >> "$1/etc/initramfs-tools/modules"' \
  --customize-hook='chroot "$1" update-initramfs -u -k all >/dev/null' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  bookworm "$work/rootfs" >&2

say "mkfs.ext4 -d, qemu-img convert"
mkdir -p "$out"
cp "$work"/rootfs/boot/vmlinuz-* "$work/vmlinuz"
cp "$work"/rootfs/boot/initrd.img-* "$work/initrd.img"
kernel=$(basename "$work"/rootfs/boot/vmlinuz-*)
truncate -s 4G "$work/root.raw"
mkfs.ext4 -q -L root -d "$work/rootfs" "$work/root.raw"
qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
rm -f "$out/.complete"
mv "$work/root.qcow2" "$work/vmlinuz" "$work/initrd.img" "$out/"
printf 'recipe %s\nkernel %s\n' "$recipe" "$kernel" > "$out/manifest"
touch "$out/.complete"
say "done: $out ($(du -sh "$out" | cut -f1))"
