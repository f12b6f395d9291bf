// Running a host program vmkit needs (ssh, ssh-keygen, qemu-img, mount, swtpm) and saying what to
// install when it is missing, instead of Deno's bare "No such file or directory".

/** Options of a run: Deno's, and the message for a program that is not installed. */
export interface ProgramOptions extends Deno.CommandOptions {
  /**
   * The message of the `Deno.errors.NotFound` thrown when the program is not installed, such
   * as `Cannot run ssh: the ssh client is not installed; install Debian's openssh-client`.
   */
  missing: string;
}

/**
 * Starts `program`.
 *
 * @param program The program's name (looked up in `PATH`) or path.
 * @param options Deno's command options, and the message for a missing program.
 * @returns The running child.
 * @throws {Deno.errors.NotFound} With `options.missing` when the program is not installed.
 */
export function spawnProgram(program: string, options: ProgramOptions): Deno.ChildProcess {
  const { missing, ...command } = options;
  try {
    return new Deno.Command(program, command).spawn();
  } catch (error) {
    throw missingProgram(error, missing);
  }
}

/**
 * Runs `program` to its end and collects what it printed.
 *
 * @param program The program's name (looked up in `PATH`) or path.
 * @param options Deno's command options, and the message for a missing program.
 * @returns Its exit status and output.
 * @throws {Deno.errors.NotFound} With `options.missing` when the program is not installed.
 */
export async function programOutput(
  program: string,
  options: ProgramOptions,
): Promise<Deno.CommandOutput> {
  const { missing, ...command } = options;
  try {
    return await new Deno.Command(program, command).output();
  } catch (error) {
    throw missingProgram(error, missing);
  }
}

/** The error to throw for a failed start: a named `NotFound` for a missing program. */
function missingProgram(error: unknown, missing: string): unknown {
  if (error instanceof Deno.errors.NotFound) {
    return new Deno.errors.NotFound(missing, { cause: error });
  }
  return error;
}
