/**
 * The error of an invalid VM definition: every problem of the file, each with where it was
 * written (`vm.yaml:12:5`), the field (`disks[1].size`), what is wrong and what is allowed.
 *
 * @module
 */

/** One problem of a definition. */
export interface DefinitionProblem {
  /**
   * Where the bad value was written: a file's path as the user would write it (the file given,
   * or one it extends, relative to it), or the `--set key=value` flag.
   */
  file: string;
  /** The line, from 1; `undefined` for a `--set`, or a file that cannot be read. */
  line: number | undefined;
  /** The column, from 1, with `line`. */
  column: number | undefined;
  /** The field, as `disks[1].size`; `""` for a problem of the whole file (YAML syntax). */
  field: string;
  /** What is wrong: `"10X" is not a size`. */
  wrong: string;
  /** What is allowed: `expected a number and a unit, such as "10G"`; `""` when nothing is. */
  allowed: string;
  /** The whole line: `vm.yaml:12:5: disks[1].size: "10X" is not a size, expected ...`. */
  message: string;
}

/**
 * Writes a problem's line: `FILE:LINE:COLUMN: FIELD: WRONG, ALLOWED`, leaving out the parts it
 * does not have.
 *
 * @param problem The problem without its message.
 * @returns The line.
 */
export function problemLine(problem: Omit<DefinitionProblem, "message">): string {
  const where = problem.line === undefined
    ? problem.file
    : `${problem.file}:${problem.line}:${problem.column}`;
  const field = problem.field === "" ? "" : `${problem.field}: `;
  const what = problem.allowed === "" ? problem.wrong : `${problem.wrong}, ${problem.allowed}`;
  return `${where}: ${field}${what}`;
}

/**
 * A VM definition that cannot be used: its message has one line per problem,
 * `vm.yaml:12:5: disks[1].size: "10X" is not a size, expected ...`; the fields describe the
 * first problem, and {@linkcode DefinitionError.problems} lists them all.
 *
 * @example
 * ```ts
 * import { DefinitionError, loadDefinition } from "./mod.ts";
 * try {
 *   await loadDefinition("vm.yaml");
 * } catch (error) {
 *   if (error instanceof DefinitionError) console.error(error.message); // every problem
 * }
 * ```
 */
export class DefinitionError extends Error {
  /** Always `"DefinitionError"`. */
  override readonly name = "DefinitionError";
  /** The file (or `--set` flag) of the first problem. */
  readonly file: string;
  /** Its line, from 1, if it has one. */
  readonly line: number | undefined;
  /** Its column, from 1, if it has one. */
  readonly column: number | undefined;
  /** Its field, as `disks[1].size` (`""` for the whole file). */
  readonly field: string;
  /** What is allowed there. */
  readonly allowed: string;
  /** Every problem, in the order of the files and fields. */
  readonly problems: readonly DefinitionProblem[];

  /**
   * Makes the error from its problems, each written as a line of the message.
   *
   * @param problems The problems, at least one.
   * @param options The cause.
   * @throws {RangeError} For an empty list.
   */
  constructor(problems: readonly Omit<DefinitionProblem, "message">[], options?: ErrorOptions) {
    if (problems.length === 0) {
      throw new RangeError("Cannot make a DefinitionError without problems");
    }
    const all = problems.map((p) => ({ ...p, message: problemLine(p) }));
    super(all.map((p) => p.message).join("\n"), options);
    const first = all[0];
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
    this.field = first.field;
    this.allowed = first.allowed;
    this.problems = all;
  }
}
