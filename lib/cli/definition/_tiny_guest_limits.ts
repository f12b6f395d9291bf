// What vmkit's tiny guest cannot do, so that a definition asking it is refused before a boot:
// too little memory for it to boot, and 9p shares it cannot mount.

import { moduleName, parseModulesDep } from "../../guest/modules_dep.ts";
import { type TinyGuest, tinyGuestModules } from "../../guest/tiny_guest.ts";

/** The least memory to give the tiny guest. */
export interface TinyGuestFloor {
  /** The floor, in MiB. */
  mib: number;
  /** The least it was measured to boot with, in MiB, when it was measured. */
  measured?: number;
}

/**
 * The tiny guest's memory floors. Measured with `vmkit run --set memory=N -- head -2
 * /proc/meminfo` (QEMU 7.2 under TCG, Debian 6.1 kernels, the initramfs of setup.sh): the least
 * that boots and runs the command, each panicking ("System is deadlocked on memory") 2 MiB
 * below: x86_64 74M (9 MiB free), with the agent 86M (15 MiB free: its initramfs is 6 MB
 * larger, and the kernel holds it twice while unpacking it), aarch64 58M (6 MiB free; 32M cannot
 * even hold its kernel). The floors are those rounded up to leave a command some room. The
 * aarch64 agent variant exists only on an aarch64 host and was not measured: its floor adds the
 * agent's 16 MiB of x86_64.
 */
const FLOORS: Readonly<Record<string, TinyGuestFloor>> = {
  "x86_64": { mib: 80, measured: 74 },
  "x86_64+agent": { mib: 96, measured: 86 },
  "aarch64": { mib: 64, measured: 58 },
  "aarch64+agent": { mib: 80 },
};

/**
 * The least memory to give the tiny guest.
 *
 * @param arch The guest architecture.
 * @param agent Whether it is the variant with the guest agent.
 * @returns The floor.
 */
export function tinyGuestFloor(arch: "x86_64" | "aarch64", agent: boolean): TinyGuestFloor {
  return FLOORS[agent ? `${arch}+agent` : arch];
}

/** The modules a 9p share needs in the guest: the file system and its virtio transport. */
const NINE_P = ["9p", "9pnet", "9pnet_virtio"];

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Why the tiny guest cannot mount a 9p share, if it cannot: its kernel has no 9p (Debian's cloud
 * flavour, on x86_64), or has it as modules its initramfs does not hold.
 *
 * @param guest The tiny guest.
 * @returns The reason, or `undefined` when it can (or it cannot be told: no modules directory).
 */
export async function tinyGuestNo9p(guest: TinyGuest): Promise<string | undefined> {
  const dir = guest.modulesDir;
  if (dir === undefined) return undefined;
  const release = dir.slice(dir.lastIndexOf("/") + 1);
  const builtin = new Set(
    ((await readIfThere(`${dir}/modules.builtin`)) ?? "").split("\n").filter((l) => l !== "")
      .map(moduleName),
  );
  const missing = NINE_P.filter((name) => !builtin.has(name));
  if (missing.length === 0) return undefined;
  const dep = await readIfThere(`${dir}/modules.dep`);
  if (dep === undefined) return undefined;
  const modules = parseModulesDep(dep);
  if (missing.some((name) => !modules.has(name))) {
    return `its kernel (${release}) has no 9p file system`;
  }
  // What the initramfs holds: the tiny guest's modules and what they need.
  const held = new Set<string>();
  const hold = (name: string) => {
    const module = modules.get(name);
    if (held.has(name) || module === undefined) return;
    held.add(name);
    for (const needed of module.dependencies) hold(moduleName(needed));
  };
  for (const name of tinyGuestModules(guest.arch)) hold(moduleName(name));
  const notHeld = missing.filter((name) => !held.has(name));
  if (notHeld.length === 0) return undefined;
  return `its kernel (${release}) has 9p as modules (${
    notHeld.join(", ")
  }), which its initramfs does not hold`;
}
