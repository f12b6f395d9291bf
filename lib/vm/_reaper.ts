// Makes sure no QEMU outlives the script that launched it: on normal exit, an uncaught error, an
// unhandled rejection, SIGINT or SIGTERM, every QEMU still running is killed and every runtime
// directory removed. Only a SIGKILL of Deno itself escapes this.

interface Owned {
  process: Deno.ChildProcess;
  runtimeDir: string;
}

const owned = new Set<Owned>();
let installed = false;
const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
const signalHandlers = new Map<Deno.Signal, () => void>();

function reapAll(): void {
  for (const entry of owned) {
    try {
      entry.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    try {
      Deno.removeSync(entry.runtimeDir, { recursive: true });
    } catch {
      // Already removed, or never made.
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
  for (const signal of signals) {
    const handler = () => {
      reapAll();
      Deno.exit(128 + (signal === "SIGINT" ? 2 : 15));
    };
    try {
      Deno.addSignalListener(signal, handler);
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
  for (const [signal, handler] of signalHandlers) Deno.removeSignalListener(signal, handler);
  signalHandlers.clear();
}

/** Registers a QEMU process and its runtime directory; returns the function that forgets them. */
export function own(process: Deno.ChildProcess, runtimeDir: string): () => void {
  const entry = { process, runtimeDir };
  owned.add(entry);
  install();
  return () => {
    owned.delete(entry);
    if (owned.size === 0) uninstall();
  };
}
