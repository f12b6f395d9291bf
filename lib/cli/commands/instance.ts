/**
 * The named-instance commands, as Lima's `limactl` has them: `start`, `stop`, `restart`,
 * `delete`, `list`, `info`, `exec`, `ssh`, `cp`, `console`, `qmp`, `events` and `snapshot`. An
 * instance's QEMU runs in the background and outlives the command that started it; its state is
 * in `$XDG_STATE_HOME/vmkit/NAME` (else `~/.local/state/vmkit/NAME`).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { registerRestart, registerStart } from "./instance/start.ts";
import { registerStop } from "./instance/stop.ts";
import { registerDelete } from "./instance/delete.ts";
import { registerList } from "./instance/list.ts";
import { registerInfo } from "./instance/info.ts";
import { registerExec } from "./instance/exec.ts";
import { registerSsh } from "./instance/ssh.ts";
import { registerCp } from "./instance/cp.ts";
import { registerConsole } from "./instance/console.ts";
import { registerQmp } from "./instance/qmp.ts";
import { registerEvents } from "./instance/events.ts";
import { registerSnapshot } from "./instance/snapshot.ts";

/**
 * Adds the named-instance commands: `start`, `stop`, `restart`, `delete`, `list`, `info`,
 * `exec`, `ssh`, `cp`, `console`, `qmp`, `events`, `snapshot`.
 *
 * @param program The `vmkit` program.
 */
export function registerInstanceCommands(program: Command): void {
  registerStart(program);
  registerStop(program);
  registerRestart(program);
  registerDelete(program);
  registerList(program);
  registerInfo(program);
  registerExec(program);
  registerSsh(program);
  registerCp(program);
  registerConsole(program);
  registerQmp(program);
  registerEvents(program);
  registerSnapshot(program);
}
