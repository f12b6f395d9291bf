/**
 * The init script vmkit puts in an initramfs when none is given.
 *
 * @module
 */

/** The line the default init prints on the console when the shell is about to start. */
export const GUEST_READY_LINE = "vmkit: guest ready";

/** The shell prompt of the default init's shell. */
export const GUEST_PROMPT = "vmkit# ";

/** Options of {@linkcode defaultInit}. */
export interface DefaultInitOptions {
  /** Host name of the guest. Default `"vmkit"`. */
  hostname?: string;
}

/**
 * The default `/init`: mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /tmp and /run; loads the
 * modules listed in `/etc/vmkit/modules`; loads the drivers of the devices the machine has, by
 * their `modalias` and the image's `modules.alias`, and keeps doing so for devices hot-added
 * later (busybox `uevent`); powers off when the ACPI power button is pressed (so
 * `Vm.shutdown()` works); prints {@linkcode GUEST_READY_LINE}; runs a login shell on the console
 * with job control; and powers off when that shell exits. It needs busybox.
 *
 * @param options Host name.
 * @returns The script.
 * @throws {TypeError} When the host name is not a valid host name.
 *
 * @example
 * ```ts
 * import { defaultInit } from "@vmkit/vmkit";
 * console.log(defaultInit({ hostname: "ci" }).split("\n")[0]); // "#!/bin/sh"
 * ```
 */
export function defaultInit(options: DefaultInitOptions = {}): string {
  const hostname = options.hostname ?? "vmkit";
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(hostname)) {
    throw new TypeError(
      `Cannot write init with hostname ${
        JSON.stringify(hostname)
      }: use letters, digits, "." and "-"`,
    );
  }
  return `#!/bin/sh
# vmkit default init
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=linux
# One mount for all that need no directory made first: each program started costs ms under TCG.
printf '%s\n' 'proc /proc proc defaults' 'sysfs /sys sysfs defaults' \
  'devtmpfs /dev devtmpfs defaults' 'tmpfs /tmp tmpfs defaults' 'tmpfs /run tmpfs defaults' \
  > /etc/vmkit/fstab
mount -a -T /etc/vmkit/fstab
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
while read -r module; do
  insmod "$module" || echo "vmkit-init: cannot load $module" >&2
done < /etc/vmkit/modules
# Drivers of the devices present: ask modprobe for the modalias of every device not seen yet,
# and again for the devices those drivers bring (virtio_pci reveals virtio devices), until the
# list of devices stops changing.
known=""
load_drivers() {
  while :; do
    set -- /sys/bus/*/devices/*/modalias /sys/class/input/*/modalias \
      /sys/devices/system/cpu/modalias /sys/class/dmi/id/modalias
    [ "$*" != "$known" ] || return 0
    previous=" $known "
    known="$*"
    new=""
    for file; do
      case "$previous" in *" $file "*) ;; *) [ -r "$file" ] && new="$new $file" ;; esac
    done
    # cat reads the files faster than the shell's read, which takes a byte per system call.
    set -f
    [ -z "$new" ] || modprobe -qa $(cat $new)
    set +f
  done
}
# Whether process $1 listens for uevents: it has a NETLINK_KOBJECT_UEVENT (15) socket.
listening() {
  while read -r socket protocol port rest; do
    [ "$protocol" = 15 ] && [ "$port" = "$1" ] && return 0
  done < /proc/net/netlink
  return 1
}
read -r release < /proc/sys/kernel/osrelease
if [ -s "/lib/modules/$release/modules.alias" ]; then
  load_drivers
  if command -v uevent > /dev/null; then
    # Devices hot-added from now on get their drivers too. Once the listener is up, catch any
    # added before it was.
    uevent sh -c '[ "$ACTION" = add ] && [ -n "$MODALIAS" ] && exec modprobe -q "$MODALIAS"' \
      > /dev/null 2>&1 &
    listener=$!
    until listening "$listener" || [ ! -d "/proc/$listener" ]; do sleep 0.005; done
  fi
  load_drivers
fi
echo ${hostname} > /proc/sys/kernel/hostname
for event in /sys/class/input/event*; do
  [ -r "$event/device/name" ] && read -r name < "$event/device/name" || continue
  [ "$name" = "Power Button" ] || continue
  (head -c 1 "/dev/input/\${event##*/}" >/dev/null && poweroff -f) &
done
echo 'export PS1="${GUEST_PROMPT}"' > /etc/profile
echo "${GUEST_READY_LINE}"
setsid cttyhack sh -l
poweroff -f
`;
}
