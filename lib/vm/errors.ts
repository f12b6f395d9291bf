/**
 * Errors of launching and driving a VM.
 *
 * @module
 */

import { KERNEL_PANIC_LINE } from "./_vm_failure.ts";

import type { VmExit } from "./vm.ts";

/** QEMU exited, or did not come up, during start-up. */
export class VmLaunchError extends Error {
  /** Always `"VmLaunchError"`. */
  override readonly name = "VmLaunchError";
  /** The binary and arguments that were run. */
  readonly argv: readonly string[];
  /** What QEMU wrote to stderr. */
  readonly stderr: string;
  /** QEMU's exit, when it exited. */
  readonly exit?: VmExit;

  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param details The argv, stderr and exit, and the cause.
   */
  constructor(
    message: string,
    details: { argv: readonly string[]; stderr: string; exit?: VmExit; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.argv = details.argv;
    this.stderr = details.stderr;
    if (details.exit !== undefined) this.exit = details.exit;
  }
}

/** What {@linkcode VmCheckError} found missing from the installed QEMU. */
export interface MissingFeature {
  /** What kind of thing: a machine type, device, object type, CPU model or accelerator. */
  kind: "machine" | "device" | "object" | "cpu" | "accel";
  /** Its name as the VM asked for it. */
  name: string;
  /** Names the installed QEMU has that look alike, if any. */
  similar: string[];
}

/** The installed QEMU lacks something the VM needs (`builder.check()`), found before launch. */
export class VmCheckError extends Error {
  /** Always `"VmCheckError"`. */
  override readonly name = "VmCheckError";
  /** The QEMU binary checked. */
  readonly binary: string;
  /** Everything missing. */
  readonly missing: readonly MissingFeature[];

  /**
   * Makes the error.
   *
   * @param binary The QEMU binary checked.
   * @param missing Everything missing.
   */
  constructor(binary: string, missing: readonly MissingFeature[]) {
    const help = [...new Set(missing.map((m) => `"${binary} -${m.kind} help"`))].join(", ");
    super(
      `Cannot launch VM with ${binary}: it lacks ${
        missing.map((m) =>
          `${m.kind} "${m.name}"${
            m.similar.length > 0
              ? ` (it has ${m.similar.map((s) => `"${s}"`).join(", ")})`
              : ""
          }`
        ).join(", ")
      }; ${help} lists what it has`,
    );
    this.binary = binary;
    this.missing = missing;
  }
}

/** A QEMU background job (snapshot, block job) ended with an error, or was cancelled. */
export class VmJobError extends Error {
  /** Always `"VmJobError"`. */
  override readonly name = "VmJobError";
  /** The job id. */
  readonly jobId: string;
  /** The command that started it. */
  readonly command: string;
  /** QEMU's description of the failure. */
  readonly error: string;

  /**
   * Makes the error.
   *
   * @param command The command that started the job.
   * @param jobId The job id.
   * @param error QEMU's description of the failure.
   * @param options The cause.
   */
  constructor(command: string, jobId: string, error: string, options: { cause?: unknown } = {}) {
    super(`QEMU job "${jobId}" (${command}) failed: ${error}`, options);
    this.jobId = jobId;
    this.command = command;
    this.error = error;
  }
}

/** A live migration failed or was cancelled; the source VM keeps running. */
export class VmMigrationError extends Error {
  /** Always `"VmMigrationError"`. */
  override readonly name = "VmMigrationError";
  /** The migration's final status (`"failed"`, `"cancelled"`). */
  readonly status: string;
  /** Where it was going. */
  readonly uri: string;

  /**
   * Makes the error.
   *
   * @param uri Where the migration was going.
   * @param status Its final status.
   * @param reason QEMU's description, or why it was cancelled.
   * @param options The cause.
   */
  constructor(uri: string, status: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot migrate to "${uri}": ${reason}`, options);
    this.status = status;
    this.uri = uri;
  }
}

/** Why a VM in a QMP run state cannot run guest commands, and what to do. */
const NOT_RUNNING: Record<string, string> = {
  paused: "the VM is paused; resume it with vm.resume()",
  prelaunch: "the VM was started paused (.paused()) and has not run yet; start it with vm.resume()",
  inmigrate: "the VM is waiting for an incoming migration",
  postmigrate: "the VM was migrated away; its guest runs at the destination now",
  "finish-migrate": "the VM is finishing a migration",
  "save-vm": "the VM is saving a snapshot",
  "restore-vm": "the VM is loading a snapshot",
  "guest-panicked": "the guest kernel panicked",
  shutdown: "the guest has shut down",
  suspended: "the guest is suspended; wake it with QMP system_wakeup",
  "io-error": "the VM stopped on a disk I/O error",
  "internal-error": "the VM stopped on an internal error of QEMU",
  watchdog: "the VM was stopped by its watchdog",
  debug: "the VM is stopped by a debugger",
};

/** The guest's CPUs are not running (paused, migrating, panicked...), so it cannot do what was asked. */
export class VmNotRunningError extends Error {
  /** Always `"VmNotRunningError"`. */
  override readonly name = "VmNotRunningError";
  /** The run state, from QMP `query-status`. */
  readonly status: string;

  /**
   * Makes the error.
   *
   * @param action What could not be done, such as `exec "uname"`.
   * @param status The run state.
   */
  constructor(action: string, status: string) {
    super(
      `Cannot ${action}: ${
        NOT_RUNNING[status] ?? `the VM is not running (status ${JSON.stringify(status)})`
      }`,
    );
    this.status = status;
  }
}

/** The guest kernel panicked while a guest job ran (`runGuestJob`). */
export class GuestPanicError extends Error {
  /** Always `"GuestPanicError"`. */
  override readonly name = "GuestPanicError";
  /** The console's last lines, with the panic message and its trace. */
  readonly consoleTail: string;
  /** How the panic was seen: QMP `GUEST_PANICKED` (pvpanic), or the console's panic line. */
  readonly detectedBy: "pvpanic" | "console";

  /**
   * Makes the error.
   *
   * @param consoleTail The console's last lines.
   * @param detectedBy How the panic was seen.
   */
  constructor(consoleTail: string, detectedBy: "pvpanic" | "console") {
    const line = KERNEL_PANIC_LINE.exec(consoleTail)?.[0];
    super(
      `The guest kernel panicked during the guest job${
        line === undefined ? "" : `: ${line.trim()}`
      }; the console's last lines are in consoleTail`,
    );
    this.consoleTail = consoleTail;
    this.detectedBy = detectedBy;
  }
}

/** QEMU exited before a guest job's status arrived (`runGuestJob`). */
export class GuestJobError extends Error {
  /** Always `"GuestJobError"`. */
  override readonly name = "GuestJobError";
  /** QEMU's exit. */
  readonly exit: VmExit;
  /** What QEMU wrote to stderr. */
  readonly stderr: string;
  /** The binary and arguments that were run. */
  readonly argv: readonly string[];
  /** The console's last lines. */
  readonly consoleTail: string;

  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param details QEMU's exit, stderr and argv, and the console's last lines.
   */
  constructor(
    message: string,
    details: { exit: VmExit; stderr: string; argv: readonly string[]; consoleTail: string },
  ) {
    super(message);
    this.exit = details.exit;
    this.stderr = details.stderr;
    this.argv = details.argv;
    this.consoleTail = details.consoleTail;
  }
}

/** A guest job did not end in time (`runGuestJob`); its VM was killed. */
export class GuestJobTimeoutError extends Error {
  /** Always `"GuestJobTimeoutError"`. */
  override readonly name = "GuestJobTimeoutError";
  /** The time limit, in milliseconds. */
  readonly timeout: number;
  /** The console's last lines. */
  readonly consoleTail: string;

  /**
   * Makes the error.
   *
   * @param timeout The time limit, in milliseconds.
   * @param consoleTail The console's last lines.
   */
  constructor(timeout: number, consoleTail: string) {
    super(
      `The guest job did not end within ${timeout} ms; its VM was killed (the console's last lines are in consoleTail)`,
    );
    this.timeout = timeout;
    this.consoleTail = consoleTail;
  }
}

/**
 * QEMU exited or the guest panicked while something waited on the guest (`vm.ssh`): the wait
 * fails at once with the reason instead of running into its time limit.
 */
export class VmGoneError extends Error {
  /** Always `"VmGoneError"`. */
  override readonly name = "VmGoneError";
  /** Why, such as `QEMU exited with code 0` or `the guest panicked (...)`. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param action What could not be done, such as `run a command over ssh`.
   * @param reason Why.
   */
  constructor(action: string, reason: string) {
    super(`Cannot ${action}: ${reason}`);
    this.reason = reason;
  }
}
