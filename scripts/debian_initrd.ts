/**
 * Builds the Debian guest's initrd with vmkit's own initramfs builder: the root filesystem's
 * static busybox, its disk drivers (virtio-blk, virtio-scsi, NVMe) and an init that mounts the
 * root filesystem `root=` names and hands over to systemd. Debian's own initrd (initramfs-tools,
 * still on the UEFI disk's ESP) starts udev and runs fsck first: about 3.4 s under TCG, where this
 * one takes a fraction of a second. Run by `scripts/debian_image.sh` on the root filesystem it
 * built.
 *
 * Usage: deno run --allow-read=ROOTFS --allow-write=OUT scripts/debian_initrd.ts ROOTFS OUT
 */
import { initramfs } from "../lib/guest/initramfs.ts";

/** The drivers of the disks a root filesystem can be on, loaded at boot in dependency order. */
const DISK_MODULES = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "nvme"];

/**
 * The init. It understands what a kernel without an initrd would: `root=` (a device path,
 * `LABEL=` or `UUID=`), `rootfstype=`, `rootflags=`, `rootdelay=` (seconds to wait for the
 * device, default 10), `ro`/`rw` (read-only by default, as the kernel mounts it: systemd then
 * checks and remounts it from fstab) and `init=`. Anything it cannot do ends in a line naming
 * the value and what to give instead, then the disks it sees with their filesystems' labels and
 * UUIDs (read from the superblocks: this busybox has no blkid); PID 1 then exits, so the kernel
 * panics, and vmkit's errors quote those lines.
 */
const INIT = `#!/bin/sh
# The Debian guest's initrd, built by vmkit's scripts/debian_initrd.ts.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
root="" init=/sbin/init mode=ro fstype="" flags="" delay=10
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="\${arg#root=}" ;;
    init=*) init="\${arg#init=}" ;;
    rootfstype=*) fstype="\${arg#rootfstype=}" ;;
    rootflags=*) flags=",\${arg#rootflags=}" ;;
    rootdelay=*) delay="\${arg#rootdelay=}" ;;
    ro) mode=ro ;;
    rw) mode=rw ;;
  esac
done
say() { echo "vmkit initrd: $*"; }
bytes() { dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null; }
# What a disk holds, read from its superblock (this busybox has no blkid): "ext4 ..." or "iso9660 ...".
filesystem() {
  if [ "$(bytes "$1" 1080 2 | od -An -tx1 | tr -d ' \\n')" = 53ef ]; then
    uuid=$(bytes "$1" 1128 16 | od -An -tx1 | tr -d ' \\n' |
      sed 's/^\\(.\\{8\\}\\)\\(.\\{4\\}\\)\\(.\\{4\\}\\)\\(.\\{4\\}\\)/\\1-\\2-\\3-\\4-/')
    echo "ext4 LABEL=$(bytes "$1" 1144 16 | tr -d '\\000') UUID=$uuid"
  elif [ "$(bytes "$1" 32769 5)" = CD001 ]; then
    echo "iso9660 labelled $(bytes "$1" 32808 32 | tr -d '\\000' | sed 's/ *$//')"
  fi
}
fail() {
  say "cannot mount the root filesystem: $*"
  say "the disks it sees:"
  for name in $(ls /sys/class/block); do
    fs=$(filesystem "/dev/$name")
    say "  /dev/$name: \${fs:-no filesystem it knows}"
  done
  exit 1
}
# The filesystems this kernel can mount from a disk.
mountable=$(grep -v '^nodev' /proc/filesystems | tr -d '\\t' | tr '\\n' ' ')
mounts() { echo " $mountable" | grep -q " $1 "; }
while read -r module; do
  insmod "$module" || say "cannot load $module"
done </etc/vmkit/modules
case "$delay" in ''|*[!0-9]*) fail "rootdelay=$delay is not a whole number of seconds" ;; esac
[ -n "$root" ] || fail "the kernel command line has no root=; give root=/dev/vda, root=LABEL=NAME or root=UUID=UUID"
if [ -n "$fstype" ] && ! mounts "$fstype"; then
  fail "rootfstype=$fstype: this kernel has no $fstype (it has $(echo $mountable))"
fi
tries=$((delay * 20))
while :; do
  case "$root" in
    LABEL=*|UUID=*) dev=$(findfs "$root" 2>/dev/null) ;;
    /dev/*) dev="$root"; [ -b "$dev" ] || dev="" ;;
    *) fail "root=$root is not a device path, LABEL= or UUID= (PARTUUID= needs Debian's own initrd)" ;;
  esac
  [ -n "$dev" ] && break
  [ "$tries" -gt 0 ] || fail "root=$root did not appear within $delay s (rootdelay=SECONDS waits longer)"
  tries=$((tries - 1))
  usleep 50000
done
fs=$(filesystem "$dev")
if [ -z "$fstype" ] && [ -n "$fs" ] && ! mounts "\${fs%% *}"; then
  what="root=$root"
  [ "$root" = "$dev" ] || what="root=$root ($dev)"
  fail "$what holds $fs, not a filesystem this kernel mounts ($(echo $mountable)): is it the right disk?"
fi
out=$(mount \${fstype:+-t "$fstype"} -o "$mode$flags" "$dev" /root 2>&1) ||
  fail "mount -o $mode$flags $dev failed: $(echo "$out" | tail -n 1)"
for dir in dev proc sys; do mount --move "/$dir" "/root/$dir"; done
exec switch_root /root "$init"
`;

const [rootfs, out] = Deno.args;
if (rootfs === undefined || out === undefined || Deno.args.length !== 2) {
  console.error("usage: debian_initrd.ts ROOTFS OUT");
  Deno.exit(2);
}
const versions: string[] = [];
try {
  for await (const entry of Deno.readDir(`${rootfs}/lib/modules`)) {
    if (entry.isDirectory) versions.push(entry.name);
  }
} catch (error) {
  console.error(`Cannot build the Debian initrd: cannot list ${rootfs}/lib/modules: ${error}`);
  Deno.exit(1);
}
if (versions.length !== 1) {
  console.error(
    `Cannot build the Debian initrd: ${rootfs}/lib/modules has ${versions.length} kernels (${
      versions.join(", ") || "none"
    }); the image has exactly one`,
  );
  Deno.exit(1);
}
const image = await initramfs()
  .busybox(`${rootfs}/bin/busybox`)
  .modules(`${rootfs}/lib/modules/${versions[0]}`, DISK_MODULES, { load: "boot" })
  .init(INIT)
  .buildGzip();
await Deno.writeFile(out, image);
