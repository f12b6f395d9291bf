// The shutdown ladder of a daemonized QEMU, as Vm.shutdown() climbs it for a QEMU it owns: the
// guest agent's guest-shutdown when the agent answers, else the ACPI power button (pressed again
// every 2 s), then QMP quit, SIGTERM and SIGKILL. QEMU is no child of ours: its end is seen by
// its pid leaving (/proc), not by wait().

import { QmpClient } from "../qmp/client.ts";
import { GuestAgent } from "../agent/client.ts";
import { signalPid, waitGone } from "./_qemu_process.ts";
import type { StopMethod } from "./instance.ts";

/** What to stop. */
export interface StopRequest {
  pid: number;
  pidFile: string;
  qmpSocket: string;
  /** The agent's socket, when the VM has the agent's channel. */
  agentSocket?: string;
  /** Time the guest gets to power off (agent, then power button); 0 skips both. */
  timeout: number;
  /** Skip the guest: QMP quit, then signals. */
  force: boolean;
  signal?: AbortSignal;
}

const REPRESS_MS = 2000;
/** The chardev id of the guest agent's socket (lib/vm/devices/guest_agent.ts). */
const AGENT_CHARDEV = "vmkit-qga-chr";
const QUIT_MS = 3000;
const TERM_MS = 3000;

/** Stops the QEMU; see the file comment. */
export async function stopQemu(request: StopRequest): Promise<StopMethod> {
  const { pid, pidFile, qmpSocket } = request;
  const gone = (ms: number) => waitGone(pid, pidFile, qmpSocket, ms, request.signal);
  const qmp = await QmpClient.connect(qmpSocket, { timeout: 5000, signal: request.signal })
    .catch(() => undefined);
  try {
    if (!request.force && request.timeout > 0 && qmp !== undefined) {
      const end = performance.now() + request.timeout;
      const status = await qmp.execute("query-status", undefined, { timeout: 2000 })
        .catch(() => undefined);
      // A guest whose CPUs are stopped cannot react.
      if (status?.running === true) {
        if (request.agentSocket !== undefined && await agentPortOpen(qmp)) {
          const stopped = await viaAgent(
            request.agentSocket,
            Math.min(2000, request.timeout),
            () => gone(Math.max(0, end - performance.now())),
          );
          if (stopped) return "agent";
        }
        if (await powerdown(qmp, () => Math.max(0, end - performance.now()), gone)) {
          return "powerdown";
        }
      }
    }
    if (qmp !== undefined) {
      await qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
      if (await gone(QUIT_MS)) return "quit";
    }
  } finally {
    await qmp?.close();
  }
  signalPid(pid, "SIGTERM");
  if (await gone(TERM_MS)) return "sigterm";
  signalPid(pid, "SIGKILL");
  if (await gone(10_000)) return "sigkill";
  throw new Error(`Cannot stop QEMU (pid ${pid}): it is still there 10 s after SIGKILL`);
}

/**
 * Whether the guest has the agent's port open (QMP `query-chardev`'s `frontend-open` of the
 * agent's chardev): without an agent listening, a ping would only wait.
 */
async function agentPortOpen(qmp: QmpClient): Promise<boolean> {
  const chardevs = await qmp.execute("query-chardev", undefined, { timeout: 2000 })
    .catch(() => undefined);
  return chardevs?.some((c) => c.label === AGENT_CHARDEV && c["frontend-open"]) ?? true;
}

/**
 * Asks the guest's agent to power off, if it answers a ping within `ms`, then waits for QEMU to
 * go with the connection still open (the agent sends no reply to guest-shutdown; on a bare
 * connection the request "finishes" only when QEMU closes the socket).
 *
 * @returns Whether QEMU went.
 */
async function viaAgent(
  socket: string,
  ms: number,
  gone: () => Promise<boolean>,
): Promise<boolean> {
  let agent: GuestAgent;
  try {
    agent = await GuestAgent.connect(socket);
  } catch {
    return false;
  }
  try {
    await agent.ping({ timeout: ms });
    agent.shutdown({ timeout: 2 ** 31 - 1 }).catch(() => {});
    return await gone();
  } catch {
    return false;
  } finally {
    await agent.close().catch(() => {});
  }
}

/**
 * Presses the power button every {@linkcode REPRESS_MS} until QEMU is gone or the time left
 * runs out; a guest that powered off while QEMU stays (`-no-shutdown`) is then quit.
 */
async function powerdown(
  qmp: QmpClient,
  left: () => number,
  gone: (ms: number) => Promise<boolean>,
): Promise<boolean> {
  let poweredOff = false;
  const stop = new AbortController();
  qmp.waitForEvent("SHUTDOWN", { match: { guest: true }, signal: stop.signal, keepAlive: false })
    .then(() => (poweredOff = true), () => {});
  try {
    while (left() > 0) {
      await qmp.execute("system_powerdown", undefined, { timeout: 1000 }).catch(() => {});
      if (await gone(Math.min(REPRESS_MS, left()))) return true;
      if (poweredOff) {
        await qmp.execute("quit", undefined, { timeout: 1000 }).catch(() => {});
        return await gone(QUIT_MS);
      }
    }
    return false;
  } finally {
    stop.abort();
  }
}
