// Makes sure no QEMU outlives the script that launched it: when the script ends (its event loop
// drains, since an idle VM does not hold it), calls Deno.exit, throws, leaves a rejection
// unhandled, or gets SIGINT, SIGTERM, SIGHUP or SIGQUIT, every QEMU still running is killed and
// every runtime directory removed. Only a SIGKILL of Deno itself escapes this.
//
// Signals: when the script has a listener of its own for a signal (`Deno.addSignalListener` or
// node's `process.on`), that listener decides what happens, say a graceful `vm.shutdown()`, and
// vmkit does not exit on that signal; whatever is left is still killed when the script exits.
// Without one, vmkit kills and cleans up and exits with 128 + the signal number, as the signal
// itself would have.

import process from "node:process";

interface Owned {
  process: Deno.ChildProcess;
  runtimeDir: string;
  /** Further files to remove: extra QMP sockets outside the runtime directory. */
  files: readonly string[];
}

const owned = new Set<Owned>();
let installed = false;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };
const signalHandlers = new Map<Deno.Signal, () => void>();

// Listeners the script added through Deno.addSignalListener, counted per signal. Wrapping the two
// functions is the only way to know; node's process.on goes through them too, and its own count
// (process.listenerCount) covers listeners added before this module loaded.
const userListeners = new Map<Deno.Signal, Set<() => void>>();
const addSignalListener = Deno.addSignalListener;
const removeSignalListener = Deno.removeSignalListener;
Deno.addSignalListener = function (signal: Deno.Signal, handler: () => void): void {
  addSignalListener.call(Deno, signal, handler);
  if (![...signalHandlers.values()].includes(handler)) {
    let set = userListeners.get(signal);
    if (set === undefined) userListeners.set(signal, set = new Set());
    set.add(handler);
  }
};
Deno.removeSignalListener = function (signal: Deno.Signal, handler: () => void): void {
  removeSignalListener.call(Deno, signal, handler);
  userListeners.get(signal)?.delete(handler);
};

function hasUserListener(signal: Deno.Signal): boolean {
  return (userListeners.get(signal)?.size ?? 0) > 0 || process.listenerCount(signal) > 0;
}

function reapAll(): void {
  for (const entry of owned) {
    try {
      entry.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    for (const path of [entry.runtimeDir, ...entry.files]) {
      try {
        Deno.removeSync(path, { recursive: true });
      } catch {
        // Already removed, or never made.
      }
    }
  }
  owned.clear();
}

function onFatal(event: Event): void {
  // A handler of the user's that prevented the default keeps the program alive: keep the VMs.
  if (event.defaultPrevented) return;
  reapAll();
}

function install(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unload", reapAll);
  globalThis.addEventListener("error", onFatal);
  globalThis.addEventListener("unhandledrejection", onFatal);
  for (const [signal, number] of Object.entries(SIGNALS) as [Deno.Signal, number][]) {
    const handler = () => {
      // The script's own listener runs too (before or after this one) and decides.
      if (hasUserListener(signal)) return;
      reapAll();
      Deno.exit(128 + number);
    };
    try {
      addSignalListener.call(Deno, signal, handler);
      signalHandlers.set(signal, handler);
    } catch {
      // Signals are not available on this platform.
    }
  }
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  globalThis.removeEventListener("unload", reapAll);
  globalThis.removeEventListener("error", onFatal);
  globalThis.removeEventListener("unhandledrejection", onFatal);
  for (const [signal, handler] of signalHandlers) removeSignalListener.call(Deno, signal, handler);
  signalHandlers.clear();
}

/**
 * Registers a QEMU process, its runtime directory and any other files it makes; returns the
 * function that forgets them.
 */
export function own(
  process: Deno.ChildProcess,
  runtimeDir: string,
  files: readonly string[] = [],
): () => void {
  const entry = { process, runtimeDir, files };
  owned.add(entry);
  install();
  return () => {
    owned.delete(entry);
    if (owned.size === 0) uninstall();
  };
}
