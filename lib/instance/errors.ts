/**
 * Errors of named instances that callers tell apart: another vmkit holds the instance, or the
 * instance is not in the state an operation needs.
 *
 * @module
 */

/** Whether an instance's QEMU is running. */
export type InstanceStatus = "running" | "stopped";

/**
 * Another process is starting, stopping or deleting the instance: it holds the instance's lock.
 * The lock is an flock the kernel drops when its holder dies, so this never outlives a crash.
 */
export class InstanceBusyError extends Error {
  /** Always `"InstanceBusyError"`. */
  override readonly name = "InstanceBusyError";
  /** The instance's name. */
  readonly instance: string;
  /** The pid of the process that holds the lock, when it wrote it. */
  readonly holderPid?: number;
  /** What the holder is doing (`"start"`, `"stop"`, `"delete"`), when it wrote it. */
  readonly holderAction?: string;

  /**
   * Makes the error.
   *
   * @param action What could not be done: `start instance "web"`.
   * @param instance The instance's name.
   * @param holder The holder's pid and action, as read from the lock file.
   */
  constructor(
    action: string,
    instance: string,
    holder: { pid?: number; action?: string } = {},
  ) {
    const who = holder.pid === undefined
      ? "another process"
      : `another process (pid ${holder.pid}${
        holder.action === undefined ? "" : `, running "${holder.action}"`
      })`;
    super(
      `Cannot ${action}: ${who} holds its lock; wait for it to finish, or end it (its lock goes with it)`,
    );
    this.instance = instance;
    if (holder.pid !== undefined) this.holderPid = holder.pid;
    if (holder.action !== undefined) this.holderAction = holder.action;
  }
}

/** The instance is running where it must be stopped, or stopped where it must run. */
export class InstanceStatusError extends Error {
  /** Always `"InstanceStatusError"`. */
  override readonly name = "InstanceStatusError";
  /** The instance's name. */
  readonly instance: string;
  /** Its status when the operation was refused. */
  readonly status: InstanceStatus;

  /**
   * Makes the error.
   *
   * @param message The whole message: "Cannot X: reason; what to do".
   * @param instance The instance's name.
   * @param status Its status.
   */
  constructor(message: string, instance: string, status: InstanceStatus) {
    super(message);
    this.instance = instance;
    this.status = status;
  }
}

/**
 * The guest's kernel panicked while {@linkcode Instance.ready} waited. QEMU still runs: a guest
 * that panics as it boots usually reboots into the same panic, so stop it
 * ({@linkcode Instance.stop} with `force`) unless you want to look at it first.
 */
export class InstancePanicError extends Error {
  /** Always `"InstancePanicError"`. */
  override readonly name = "InstancePanicError";
  /** The instance's name. */
  readonly instance: string;
  /** The console log, which holds the whole panic. */
  readonly consoleLog: string;

  /**
   * Makes the error.
   *
   * @param message The whole message: "Cannot wait for instance ...: the guest's kernel panicked: ...".
   * @param instance The instance's name.
   * @param consoleLog The console log's path.
   */
  constructor(message: string, instance: string, consoleLog: string) {
    super(message);
    this.instance = instance;
    this.consoleLog = consoleLog;
  }
}
