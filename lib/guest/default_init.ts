/**
 * The init script vmkit puts in an initramfs when none is given.
 *
 * @module
 */

/** The line the default init prints on the console when the shell is about to start. */
export const GUEST_READY_LINE = "vmkit: guest ready";

/** The name of the virtio-serial port the QEMU guest agent listens on. */
export const AGENT_PORT_NAME = "org.qemu.guest_agent.0";

/**
 * The name of the virtio-serial port a guest job's exit status goes out on (see
 * `runGuestJob`).
 */
export const JOB_STATUS_PORT_NAME = "org.vmkit.job.status";

/**
 * What the default init prints when the machine has the guest agent's port and the image has no
 * qemu-ga: `vm.agent` then fails at once instead of waiting for an agent that cannot come.
 */
export const NO_AGENT_LINE = "the machine has a guest agent port, but this image has no qemu-ga";

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
 * later (busybox `uevent`); when the VM has a network card, brings up `lo` and every card with
 * DHCP (busybox `udhcpc`: address, default route, `/etc/resolv.conf`); when the machine has a
 * virtio-serial port named {@linkcode AGENT_PORT_NAME} and the image has `qemu-ga`, starts the
 * QEMU guest agent on it (state in `/run/qemu-ga`, log `/run/qemu-ga.log`, with a `/sbin/shutdown`
 * for its `guest-shutdown`) and waits until it has the port open (about 250 ms under TCG;
 * nothing is run without a virtio-serial device); with `vmkit.job=` (base64) on the kernel
 * command line, runs that command as the guest's only job, sends its exit status or signal to
 * the {@linkcode JOB_STATUS_PORT_NAME} port and powers off (see `runGuestJob`); else prints
 * {@linkcode GUEST_READY_LINE};
 * and runs a login shell on the console with job control; when it exits, sends its exit status
 * (or the signal that killed it, as for a job) to the {@linkcode JOB_STATUS_PORT_NAME} port
 * when the machine has one, and powers off.
 *
 * It stops the guest cleanly, whatever asks: the power button (ACPI's on x86_64, the virt
 * machine's GPIO key on aarch64, so `Vm.shutdown()` works), `poweroff`, `reboot` and `halt`
 * in the guest (busybox signals PID 1), or the shell exiting (a power-off, within a second);
 * the power button stops a running guest job too (`runGuestJob`'s abort). Stopping sends
 * SIGHUP and SIGTERM to every process, gives them up to 2 s to exit, kills what is left, flushes
 * and unmounts (or remounts read-only) every filesystem, then powers off, reboots or halts. It
 * needs busybox.
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
# Networking, when the VM has a card: lo, and DHCP on every card (QEMU's user network answers
# at once). Without one, nothing is started: each program costs milliseconds under TCG.
set -- /sys/class/net/e*
if [ -e "$1" ]; then
  ip link set lo up
  cat > /etc/vmkit/udhcpc <<'SCRIPT'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" \${broadcast:+broadcast "$broadcast"} dev "$interface"
    for gateway in $router; do ip route add default via "$gateway" dev "$interface"; break; done
    : > /etc/resolv.conf
    for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
    [ -z "$domain" ] || echo "search $domain" >> /etc/resolv.conf ;;
esac
SCRIPT
  chmod 755 /etc/vmkit/udhcpc
  for card; do
    udhcpc -i "\${card##*/}" -s /etc/vmkit/udhcpc -q -n -t 5 -T 1 > /dev/null 2>&1 ||
      echo "vmkit-init: no DHCP lease on \${card##*/}" >&2
  done
fi
# Named virtio-serial ports: the QEMU guest agent's, and a guest job's status port. The ports
# and their names arrive from QEMU just after virtio_console loads: wait until those show up,
# or every port has its name (at most 1 s, for nameless consoles). Without a virtio-serial
# device, nothing runs.
serial=""
for file in /sys/bus/virtio/devices/*/device; do
  [ -r "$file" ] && read -r id < "$file" && [ "$id" = 0x0003 ] && serial=1
done
agent=""
status_port=""
read -r cmdline < /proc/cmdline
case " $cmdline " in *" vmkit.job="*) job=1 ;; *) job="" ;; esac
if [ -n "$serial" ]; then
  waited=0
  while [ $waited -lt 100 ]; do
    seen=""
    named=1
    for port in /sys/class/virtio-ports/vport*; do
      [ -r "$port/name" ] || continue
      seen=1
      name=""
      read -r name < "$port/name"
      case "$name" in
        ${AGENT_PORT_NAME}) agent="/dev/\${port##*/}" ;;
        ${JOB_STATUS_PORT_NAME}) status_port="/dev/\${port##*/}" ;;
        "") named="" ;;
      esac
    done
    [ -n "$agent" ] && { [ -z "$job" ] || [ -n "$status_port" ]; } && break
    [ -n "$job" ] && [ -n "$status_port" ] && break
    [ -n "$seen" ] && [ -n "$named" ] && break
    sleep 0.01
    waited=$((waited + 1))
  done
  if [ -n "$agent" ] && ! command -v qemu-ga > /dev/null; then
    echo "vmkit-init: ${NO_AGENT_LINE}" >&2
  elif [ -n "$agent" ]; then
    until [ -c "$agent" ]; do sleep 0.01; done
    # qemu-ga's guest-shutdown runs /sbin/shutdown -P|-H|-r +0 "message": signal init as
    # poweroff, halt and reboot do.
    [ -e /sbin/shutdown ] || cat > /sbin/shutdown <<'SCRIPT'
#!/bin/sh
signal=USR2
for arg; do
  case "$arg" in -r) signal=TERM ;; -H) signal=USR1 ;; -P) signal=USR2 ;; esac
done
exec kill -$signal 1
SCRIPT
    chmod 755 /sbin/shutdown
    mkdir -p /run/qemu-ga
    qemu-ga -m virtio-serial -p "$agent" -t /run/qemu-ga -l /run/qemu-ga.log < /dev/null \
      > /dev/null 2>&1 &
    echo $! > /run/qemu-ga.pid
    # Listening once it has the port open.
    until ls -l "/proc/$!/fd" 2> /dev/null | grep -q " $agent$"; do
      if [ ! -d "/proc/$!" ]; then
        echo "vmkit-init: qemu-ga exited at start:" >&2
        cat /run/qemu-ga.log >&2
        break
      fi
      sleep 0.01
    done
  fi
fi
# Stopping: busybox's poweroff, reboot and halt signal PID 1 (USR2, TERM, USR1); the power
# button's watcher does as poweroff does.
others_running() {
  for process in /proc/[0-9]*; do
    [ "\${process#/proc/}" = 1 ] && continue
    # Kernel threads and zombies have no executable.
    [ -e "$process/exe" ] && return 0
  done
  return 1
}
stop_guest() {
  trap '' USR1 USR2 TERM
  kill -HUP -1 2> /dev/null
  kill -TERM -1 2> /dev/null
  waited=0
  while others_running && [ $waited -lt 40 ]; do sleep 0.05; waited=$((waited + 1)); done
  kill -KILL -1 2> /dev/null
  sync
  umount -a -r > /dev/null 2>&1
  sync
  $1 -f
}
trap 'stop_guest poweroff' USR2
trap 'stop_guest reboot' TERM
trap 'stop_guest halt' USR1
for event in /sys/class/input/event*; do
  [ -r "$event/device/name" ] && read -r name < "$event/device/name" || continue
  case "$name" in "Power Button" | gpio-keys) ;; *) continue ;; esac
  # During a guest job init waits for it in the foreground, and runs its trap only once the job
  # has ended: the watcher ends the job's busybox time, so init's stop_guest stops the job now.
  # SIGPIPE, as the shell reports any other signal's death on the console ("Terminated").
  (head -c 1 "/dev/input/\${event##*/}" > /dev/null && kill -USR2 1 &&
    { [ -z "$job" ] || kill -PIPE $(cat /run/vmkit-job.pid 2> /dev/null) 2> /dev/null; }) &
done
# A guest job (vmkit.job= on the kernel command line, base64): the guest's only job, with the
# console as its stdout and stderr, between two lines that carry the run's nonce. busybox time
# tells an exit from a death by a signal (a shell's $? cannot), and its report goes to the
# status port, which the job's output cannot reach. Then the guest powers off.
if [ -n "$job" ]; then
  set -f
  for word in $cmdline; do
    case "$word" in
      vmkit.job=*) job="\${word#vmkit.job=}" ;;
      vmkit.nonce=*) nonce="\${word#vmkit.nonce=}" ;;
    esac
  done
  set +f
  echo "$job" | base64 -d > /run/vmkit-job
  if [ -z "$status_port" ]; then
    echo "vmkit-init: a guest job needs the virtio-serial port ${JOB_STATUS_PORT_NAME}" >&2
  else
    until [ -c "$status_port" ]; do sleep 0.01; done
    echo "vmkit-job: start $nonce"
    # In the foreground: an asynchronous command would ignore SIGINT and SIGQUIT. Its pid (busybox
    # time's, after the exec) is for the power button's watcher.
    sh -c 'echo $$ > /run/vmkit-job.pid; exec busybox time -o /run/vmkit-job.status \
      -f "exit %x" sh -c "$1"' sh "$(cat /run/vmkit-job)" < /dev/null
    echo "vmkit-job: end $nonce"
    cat /run/vmkit-job.status > "$status_port"
  fi
  stop_guest poweroff
fi
echo 'export PS1="${GUEST_PROMPT}"' > /etc/profile
echo "${GUEST_READY_LINE}"
# The shell runs in a session of its own, outside init's jobs: the second setsid forks (its
# caller leads a process group), so init goes on at once. Not '&': a background job ignores
# Ctrl-C, and so would the shell and every command it runs. init then waits with 'wait', which
# a signal's trap interrupts at once (a foreground command would delay the trap). busybox time
# reports how the shell ended (an exit code, or the signal that killed it), for the status port
# when the machine has one (vmkit kernel then exits with the shell's status); the shell, its
# child, takes a session of its own again (setsid), as cttyhack makes the console the
# controlling terminal only of a session's leader.
setsid setsid sh -c 'echo $$ > /run/vmkit-shell; exec busybox time -o /run/vmkit-shell.status \
  -f "exit %x" setsid cttyhack sh -l'
until read -r shell < /run/vmkit-shell; do sleep 0.01; done 2> /dev/null
while [ -e "/proc/$shell" ]; do sleep 1 & wait $!; done
if [ -n "$status_port" ] && [ -s /run/vmkit-shell.status ]; then
  until [ -c "$status_port" ]; do sleep 0.01; done
  cat /run/vmkit-shell.status > "$status_port"
fi
stop_guest poweroff
`;
}
