// How much guest memory the host can give one QEMU, from /proc: QEMU allocates the guest's
// memory at start, and Linux refuses an allocation larger than it could ever back, so a VM
// asking for more fails before it boots ("cannot set up guest memory 'pc.ram'").

/** What the host can give, and how that was worked out. */
export interface HostMemory {
  /** The most one allocation may be, in bytes. */
  limit: number;
  /** How the limit was reached, in words: `23.5 GiB of memory and no swap`. */
  reason: string;
}

function granted(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}

/** A field of /proc/meminfo, in bytes. */
function meminfoField(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
  return match === null ? undefined : Number(match[1]) * 1024;
}

/** Bytes as GiB (or MiB under one GiB), one decimal. */
function gib(bytes: number): string {
  return bytes >= 2 ** 30
    ? `${Number((bytes / 2 ** 30).toFixed(1))} GiB`
    : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/**
 * The largest guest memory the host's overcommit policy lets QEMU allocate: with the default
 * heuristic (`vm.overcommit_memory` 0) its memory and swap, with 2 (strict) the commit limit;
 * with 1 (always) there is none.
 *
 * @returns The limit, or `undefined` when there is none, or Deno may not read /proc.
 */
export function hostMemory(): HostMemory | undefined {
  if (!granted("/proc/meminfo") || !granted("/proc/sys/vm/overcommit_memory")) return undefined;
  let text: string;
  let mode: string;
  try {
    text = Deno.readTextFileSync("/proc/meminfo");
    mode = Deno.readTextFileSync("/proc/sys/vm/overcommit_memory").trim();
  } catch {
    return undefined; // not Linux, or no /proc: QEMU says what it says
  }
  if (mode === "1") return undefined;
  if (mode === "2") {
    const commit = meminfoField(text, "CommitLimit");
    const committed = meminfoField(text, "Committed_AS");
    if (commit === undefined || committed === undefined) return undefined;
    return {
      limit: Math.max(0, commit - committed),
      reason: `${gib(Math.max(0, commit - committed))} left to commit (vm.overcommit_memory is 2)`,
    };
  }
  const total = meminfoField(text, "MemTotal");
  const swap = meminfoField(text, "SwapTotal") ?? 0;
  if (total === undefined) return undefined;
  return {
    limit: total + swap,
    reason: `${gib(total)} of memory and ${swap === 0 ? "no swap" : `${gib(swap)} of swap`}`,
  };
}
