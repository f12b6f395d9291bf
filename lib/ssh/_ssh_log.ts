// What one ssh client run's own log (`-vv -E <file>`) says about how it ended. ssh exits with
// 255 both when it fails and when the remote command exits with 255 or is killed by a signal
// (OpenSSH's client ignores sshd's "exit-signal" message), so the exit code alone cannot tell;
// its debug log can, and keeping the log in a file keeps ssh's messages out of the remote
// command's stderr.

import type { SshFailure } from "./errors.ts";

/** How a run ended, as its log tells. */
export type SshLogOutcome =
  /** The remote command exited with this status. */
  | { kind: "exit"; code: number }
  /** The remote command was killed by a signal (which one, OpenSSH's client does not say). */
  | { kind: "signal" }
  /**
   * A session through a ControlMaster ended without an exit status: the master has the answer
   * in its own log, under this channel (session) id.
   */
  | { kind: "mux-unknown"; session: number }
  /** ssh failed on its own. */
  | { kind: "failed"; failure: SshFailure; messages: string };

/** ssh's own lines that are not errors: its version, the login, the byte counts. */
const CHATTER = [
  /^OpenSSH_\S+/,
  /^Authenticated to /,
  /^Transferred: /,
  /^Bytes per second: /,
];

/** ssh's own messages in its log: every line but the debug ones and its usual chatter. */
export function sshMessages(log: string): string {
  return log.split("\n").map((line) => line.replace(/\r$/, ""))
    .filter((line) => line !== "" && !/^debug\d: /.test(line))
    .filter((line) => !CHATTER.some((chatter) => chatter.test(line)))
    .join("\n");
}

/** The kind of failure ssh's messages describe. */
export function classifyFailure(messages: string): SshFailure {
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known for|Host key for .* has changed/i
      .test(messages)
  ) return "host-key";
  if (/Permission denied/.test(messages)) return "auth";
  if (
    /Connection refused|Connection reset|Connection closed|Connection timed out|kex_exchange_identification|connect to host|No route to host|Broken pipe|Operation timed out/i
      .test(messages)
  ) return "connect";
  return "other";
}

/** Reads how an ssh run (direct, or a client of a ControlMaster) ended from its `-vv` log. */
export function readSshLog(log: string): SshLogOutcome {
  // Direct: ssh logs "Exit status N" at debug1 when it got one (-1 after an exit-signal).
  const exit = /^debug1: Exit status (-?\d+)\r?$/m.exec(log);
  if (/^debug1: client_input_channel_req: channel \d+ rtype exit-signal /m.test(log)) {
    return { kind: "signal" };
  }
  if (exit !== null && Number(exit[1]) >= 0) return { kind: "exit", code: Number(exit[1]) };
  // Through a master: the master relays an exit status, and nothing for an exit-signal.
  const relayed = /^debug2: Received exit status from master (\d+)\r?$/m.exec(log);
  if (relayed !== null) return { kind: "exit", code: Number(relayed[1]) };
  const session = /^debug1: mux_client_request_session: master session id: (\d+)\r?$/m.exec(log);
  if (session !== null && /^debug2: Control master terminated unexpectedly\r?$/m.test(log)) {
    return { kind: "mux-unknown", session: Number(session[1]) };
  }
  const messages = sshMessages(log);
  return { kind: "failed", failure: classifyFailure(messages), messages };
}

/**
 * Whether the ControlMaster's log says that the last request on a channel was "exit-signal":
 * the remote command of that session was killed by a signal.
 */
export function masterSawSignal(masterLog: string, channel: number): boolean {
  const pattern = new RegExp(
    `^debug1: client_input_channel_req: channel ${channel} rtype (exit-signal|exit-status) `,
    "gm",
  );
  let last: string | undefined;
  for (const match of masterLog.matchAll(pattern)) last = match[1];
  return last === "exit-signal";
}
