// vmkit run as users run it: `deno run -A lib/cli/main.ts ARGS` in a subprocess, in a directory
// of the test's, its output and exit status back.

/** The CLI's entry point. */
export const MAIN: string = new URL("../../lib/cli/main.ts", import.meta.url).pathname;

const decoder = new TextDecoder();

/** What a finished `vmkit` printed and how it exited. */
export interface VmkitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where `vmkit` runs: its working directory, and variables on top of this process's. */
export interface VmkitOptions {
  cwd: string;
  env?: Record<string, string>;
}

/** Starts `vmkit ARGS`, its output piped; the caller reads, signals and awaits it. */
export function spawnVmkit(
  args: string[],
  options: VmkitOptions & { stdin: "null" | "piped" },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-A", MAIN, ...args],
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs `vmkit ARGS` to its end, with `input` on its stdin (else none). */
export async function vmkit(
  args: string[],
  options: VmkitOptions & { input?: string },
): Promise<VmkitRun> {
  const { input } = options;
  const child = spawnVmkit(args, { ...options, stdin: input === undefined ? "null" : "piped" });
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
