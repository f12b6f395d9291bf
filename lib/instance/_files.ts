// The files in an instance's state directory. QEMU makes the sockets, the pid file and the logs;
// vmkit the lock, the record, and what the devices prepare (ssh keys, the cloud-init seed).

/** The lock file: an flock while a start, stop or delete runs; it holds the holder's pid. */
export const LOCK_FILE = "lock";
/** The instance's record (`InstanceRecord`), JSON. */
export const RECORD_FILE = "instance.json";
/** QEMU's pid file (`-pidfile`). */
export const PID_FILE = "qemu.pid";
/** QEMU's own messages (`-D`): its errors, warnings, why it stopped. */
export const QEMU_LOG = "qemu.log";
/** Everything the guest's console printed since the last start. */
export const CONSOLE_LOG = "console.log";
/** The console socket QEMU serves. */
export const CONSOLE_SOCKET = "console.sock";
/** The QMP socket QEMU serves, for commands. */
export const QMP_SOCKET = "qmp.sock";
/** A second QMP monitor, for `events`: a monitor serves one client at a time. */
export const EVENTS_SOCKET = "events.sock";
/**
 * The guest agent socket QEMU serves: `GUEST_AGENT_SOCKET` of lib/vm/devices/guest_agent.ts,
 * written out so `vmkit list` does not load the device code.
 */
export const AGENT_SOCKET = "qga.sock";

/** What a QEMU that died without cleaning up leaves behind. */
export const STALE_FILES: readonly string[] = [
  PID_FILE,
  CONSOLE_SOCKET,
  QMP_SOCKET,
  EVENTS_SOCKET,
  AGENT_SOCKET,
];

/** An flock held by the `vmkit events` attached to the events monitor; it holds its pid. */
export const EVENTS_LOCK_FILE = "events.lock";
