// Linux signal names by number, for a program a signal killed (in the guest, through the agent
// or a guest job's status report).

/** Linux's signal names by number (x86_64 and aarch64 share them); 0 is no signal. */
const SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/** glibc's `SIGRTMIN`: 32 and 33 are kept by its threads library. */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * The name of a Linux signal number, as `kill -l` gives it for the real-time ones.
 *
 * @param number The signal number.
 * @returns `"SIGKILL"` for 9, `"SIGRTMIN"` / `"SIGRTMIN+3"` for 34 / 37, `"signal 70"` for a
 *   number that names no signal.
 */
export function linuxSignalName(number: number): string {
  if (!Number.isInteger(number)) return `signal ${number}`;
  if (number > 0 && number < SIGNALS.length) return SIGNALS[number];
  if (number >= SIGRTMIN && number <= SIGRTMAX) {
    return number === SIGRTMIN ? "SIGRTMIN" : `SIGRTMIN+${number - SIGRTMIN}`;
  }
  return `signal ${number}`;
}
