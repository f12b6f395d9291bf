#!/usr/bin/env bash
# Prepares a Debian machine for vmkit: Deno (through npm), the Debian QEMU packages, the tiny
# guest's kernel and busybox for x86_64 and aarch64, and busybox-static of other architectures
# for the binfmt_misc tests, fetched with `apt-get download` into .cache/vmkit/ (outside git).
# Idempotent; silent and fast when everything is already there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${VMKIT_CACHE_DIR:-$root/.cache/vmkit}"
# ovmf and qemu-efi-aarch64: UEFI firmware; genisoimage (isoinfo) and xorriso: independent readers
# the ISO 9660 writer is tested against; python3-yaml: cloud-init's own YAML parser, which
# reads the seeds back in the tests; mmdebstrap and e2fsprogs: the Debian guest, and fdisk,
# dosfstools and mtools its UEFI disk (sfdisk, mkfs.vfat, mcopy: no loop devices).
packages=(qemu-system-x86 qemu-system-arm qemu-system-misc qemu-system-ppc qemu-utils qemu-user-static swtpm
  ovmf qemu-efi-aarch64 genisoimage xorriso mmdebstrap e2fsprogs fdisk dosfstools mtools python3-yaml
  qemu-guest-agent openssh-client openssh-server)

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
as_root() { [ "$(id -u)" = 0 ]; }
apt_updated=""
apt_update() {
  [ -n "$apt_updated" ] && return 0
  say "apt-get update"
  # A mirror in mid-sync fails some index files; what did download is still usable, and a
  # package that is really missing fails clearly at 'apt-get download'.
  apt-get update -qq >/dev/null 2>&1 || say "apt-get update reported errors; going on with the indexes it got"
  apt_updated=1
}

# 1. Deno, through npm.
if ! command -v deno >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || die "Cannot install Deno: npm is not installed (install Node.js first)"
  say "installing Deno with npm"
  npm install -g --silent deno@2 >/dev/null 2>&1 || die "Cannot install Deno: 'npm install -g deno@2' failed"
  command -v deno >/dev/null 2>&1 || die "Cannot install Deno: npm installed it but 'deno' is not on PATH ($(npm prefix -g)/bin)"
fi

# 2. The Debian QEMU packages (and python3 when there is none).
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
# The qmp-shell test types on a pseudo-terminal with python3's pty module.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  line="apt-get install -y --no-install-recommends ${missing[*]}"
  as_root || die "Cannot install ${missing[*]}: not root; run as root: $line"
  apt_update
  say "$line"
  DEBIAN_FRONTEND=noninteractive $line >/dev/null || die "Cannot install ${missing[*]}: '$line' failed"
fi

# 3. The tiny guest's kernel, modules and busybox, per guest architecture. The kernel is the
# host's own /boot/vmlinuz-$(uname -r) when it is readable and of the guest's architecture (as
# virtme-ng does), else Debian's: the cloud kernel on x86_64, the generic one on aarch64 (the
# cloud kernel there has no gpio_keys, so the virt machine's power button would not reach the
# guest).
host_deb=$(dpkg --print-architecture)
host_release=$(uname -r)
fetch_guest() {
  local arch=$1 deb=$2 meta=$3 dir="$cache/$1" use_host=""
  if [ "$deb" = "$host_deb" ] && [ -r "/boot/vmlinuz-$host_release" ]; then use_host=1; fi
  if [ -f "$dir/.complete" ]; then
    # A cache made from the host kernel goes stale when the host boots another kernel, and one
    # made from Debian's when the kernel flavour changes.
    if [ -n "$use_host" ]; then
      grep -qx "kernel host $host_release" "$dir/manifest" && return 0
    else
      grep -qx "flavour $meta" "$dir/manifest" && return 0
    fi
  fi
  local spec=""
  if [ "$deb" != "$host_deb" ]; then
    spec=":$deb"
    if ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
      as_root || die "Cannot fetch the $arch guest: 'dpkg --add-architecture $deb' needs root; run: sudo $0"
      say "dpkg --add-architecture $deb"
      dpkg --add-architecture "$deb"
      apt_updated=""
      apt_update
    fi
  fi
  local wanted=("busybox-static$spec") kernel_package=""
  if [ -z "$use_host" ]; then
    kernel_package=$(apt-cache depends "$meta$spec" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -n 1)
    if [ -z "$kernel_package" ]; then
      apt_update
      kernel_package=$(apt-cache depends "$meta$spec" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -n 1)
    fi
    [ -n "$kernel_package" ] || die "Cannot fetch the $arch guest: apt knows no package $meta$spec"
    wanted+=("$kernel_package$spec")
  fi
  local work
  work=$(mktemp -d)
  chmod 755 "$work"
  say "apt-get download ${wanted[*]}"
  if ! (cd "$work" && apt-get download -qq "${wanted[@]}" >/dev/null 2>&1); then
    apt_update
    (cd "$work" && apt-get download -qq "${wanted[@]}" >/dev/null) ||
      die "Cannot fetch the $arch guest: 'apt-get download ${wanted[*]}' failed"
  fi
  mkdir -p "$work/x"
  for file in "$work"/*.deb; do dpkg-deb -x "$file" "$work/x"; done
  rm -rf "$dir"
  mkdir -p "$dir/lib/modules"
  cp "$work/x/bin/busybox" "$dir/busybox"
  if [ -n "$use_host" ]; then
    cp "/boot/vmlinuz-$host_release" "$dir/vmlinuz"
    if [ -d "/lib/modules/$host_release" ]; then
      cp -a "/lib/modules/$host_release" "$dir/lib/modules/$host_release"
    fi
    printf 'kernel host %s\n' "$host_release" >"$dir/manifest"
  else
    local version=${kernel_package#linux-image-}
    cp "$work/x/boot/vmlinuz-$version" "$dir/vmlinuz"
    cp -a "$work/x/lib/modules/$version" "$dir/lib/modules/$version"
    printf 'kernel debian %s %s\nflavour %s\n' "$kernel_package" "$(dpkg-deb -f "$work/$(cd "$work" && ls linux-image-*.deb)" Version)" "$meta" >"$dir/manifest"
  fi
  printf 'busybox debian %s\n' "$(dpkg-deb -f "$work/$(cd "$work" && ls busybox-static*.deb)" Version)" >>"$dir/manifest"
  rm -rf "$work"
  touch "$dir/.complete"
}
fetch_guest x86_64 amd64 linux-image-cloud-amd64
fetch_guest aarch64 arm64 linux-image-arm64

# busybox-static of other Debian architectures: the binfmt_misc and runForeign tests run them.
foreign_debs=(arm64 armhf armel ppc64el s390x mips64el mipsel)
add_architecture() {
  local deb=$1
  [ "$deb" = "$host_deb" ] && return 0
  dpkg --print-foreign-architectures | grep -qx "$deb" && return 0
  as_root || die "Cannot fetch busybox-static:$deb: 'dpkg --add-architecture $deb' needs root; run: sudo $0"
  say "dpkg --add-architecture $deb"
  dpkg --add-architecture "$deb"
  apt_updated=""
}
fetch_foreign_busyboxes() {
  local wanted=() deb
  for deb in "${foreign_debs[@]}"; do
    [ -x "$cache/foreign/$deb/busybox" ] || wanted+=("$deb")
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  for deb in "${wanted[@]}"; do add_architecture "$deb"; done
  local work specs=()
  for deb in "${wanted[@]}"; do specs+=("busybox-static:$deb"); done
  work=$(mktemp -d)
  chmod 755 "$work"
  say "apt-get download ${specs[*]}"
  # A newly added architecture has no package lists yet: update once and try again.
  if ! (cd "$work" && apt-get download -qq "${specs[@]}" >/dev/null 2>&1); then
    apt_update
    if ! (cd "$work" && apt-get download -qq "${specs[@]}" >/dev/null 2>"$work/errors"); then
      cat "$work/errors" >&2
      die "Cannot fetch ${specs[*]}: 'apt-get download' failed"
    fi
  fi
  for deb in "${wanted[@]}"; do
    mkdir -p "$work/$deb" "$cache/foreign/$deb"
    dpkg-deb -x "$work"/busybox-static_*_"$deb".deb "$work/$deb"
    cp "$work/$deb/bin/busybox" "$cache/foreign/$deb/busybox.tmp"
    mv "$cache/foreign/$deb/busybox.tmp" "$cache/foreign/$deb/busybox"
  done
  rm -rf "$work"
}
fetch_foreign_busyboxes

# modules.dep is made by depmod at install time, not shipped: make it with the host's busybox.
host_busybox=""
case "$host_deb" in
  amd64) host_busybox="$cache/x86_64/busybox" ;;
  arm64) host_busybox="$cache/aarch64/busybox" ;;
esac
for dir in "$cache"/*/lib/modules/*/; do
  [ -f "$dir/modules.dep" ] && continue
  [ -n "$host_busybox" ] || die "Cannot write modules.dep in $dir: no busybox for host architecture $host_deb"
  version=$(basename "$dir")
  "$host_busybox" depmod -b "${dir%/lib/modules/*}" "$version" || die "Cannot write modules.dep in $dir"
done

# 4. The tiny guest's initramfs, built by vmkit itself (rewritten only when it changes), and for
# the host's architecture its variant with the host's qemu-ga and its libraries
# (initrd-agent.img; prepare_guest.ts reads them from /usr and /lib, hence --allow-read).
deno run --quiet --allow-read --allow-write="$cache" "$root/scripts/prepare_guest.ts" "$cache"

# 5. The Debian guest (bookworm from Debian packages, ~1.5 min, ~500 MB), rebuilt only when its
# recipe changes. Only on amd64 hosts, as root (mmdebstrap without user namespaces).
if [ "$host_deb" = amd64 ]; then
  if as_root; then
    VMKIT_CACHE_DIR="$cache" "$root/scripts/debian_image.sh"
  else
    say "skipping the Debian guest: building it needs root (run: sudo $root/scripts/debian_image.sh)"
  fi
fi
