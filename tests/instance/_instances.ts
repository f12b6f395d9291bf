// A private place for instances in tests (XDG_STATE_HOME of its own), which stops every QEMU
// started there and removes it on dispose; and `vmkit` run as a user runs it.

import { listInstances } from "../../lib/instance/list.ts";
import { openInstance } from "../../lib/instance/instance.ts";
import { readPidFile } from "../../lib/instance/_qemu_process.ts";
import { spawnVmkit, vmkit as runVmkit, type VmkitRun } from "../cli/_vmkit.ts";

/** A temporary XDG_STATE_HOME; instances live in its `vmkit/`. */
export interface ScratchState extends AsyncDisposable {
  /** The directory to pass as XDG_STATE_HOME. */
  xdg: string;
  /** Where instances live: `${xdg}/vmkit`, the library's `stateBase`. */
  stateBase: string;
}

/** Makes a scratch state directory; disposing of it stops its instances and removes it. */
export async function scratchState(): Promise<ScratchState> {
  const xdg = await Deno.makeTempDir({ prefix: "vmkit-inst-" });
  const stateBase = `${xdg}/vmkit`;
  return {
    xdg,
    stateBase,
    async [Symbol.asyncDispose]() {
      for (const summary of await listInstances({ stateBase }).catch(() => [])) {
        if (summary.status !== "running") continue;
        const instance = await openInstance(summary.name, { stateBase });
        await instance.stop({ force: true }).catch(() => {});
      }
      // A QEMU a test left half-started (no record yet) still has its pid file.
      const names: string[] = [];
      try {
        for await (const entry of Deno.readDir(stateBase)) names.push(entry.name);
      } catch {
        // No instance was made.
      }
      for (const name of names) {
        const pid = await readPidFile(`${stateBase}/${name}/qemu.pid`);
        if (pid !== undefined) {
          const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
          if (cmdline.includes(`${stateBase}/${name}/`)) Deno.kill(pid, "SIGKILL");
        }
      }
      await Deno.remove(xdg, { recursive: true });
    },
  };
}

/** Options of {@linkcode vmkit}. */
export interface VmkitOptions {
  /** The XDG_STATE_HOME to run with. */
  xdg: string;
  /** Working directory. Default the scratch directory. */
  cwd?: string;
  /** Standard input. Default none. */
  stdin?: string;
}

/** Where `vmkit` runs, with its instances in `xdg`. */
function placed(options: VmkitOptions): { cwd: string; env: Record<string, string> } {
  return { cwd: options.cwd ?? options.xdg, env: { XDG_STATE_HOME: options.xdg, NO_COLOR: "1" } };
}

/** Starts `vmkit ARGS` as a user does, with no input; the caller reads, signals and awaits it. */
export function spawnWithState(args: string[], options: VmkitOptions): Deno.ChildProcess {
  return spawnVmkit(args, { ...placed(options), stdin: "null" });
}

/** Runs `vmkit ARGS` to its end. */
export function vmkit(args: string[], options: VmkitOptions): Promise<VmkitRun> {
  return runVmkit(args, { ...placed(options), input: options.stdin });
}

/** The VM definition of the tiny guest with its agent, as YAML, with more lines if given. */
export function tinyDefinition(...more: string[]): string {
  return ["arch: x86_64", "guest: tiny", "agent: true", "memory: 256M", ...more].join("\n") +
    "\n";
}
