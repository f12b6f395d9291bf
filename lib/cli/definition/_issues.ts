// zod's issues as problems a user reads: an unknown key names the nearest known one, a value
// that fits no branch of a union gets the union's words, a value that fits one branch's type
// gets that branch's problems.

import { z } from "npm:zod@^4.1.0";
import { decodeText } from "./_issue_text.ts";
import { nearestKey } from "./_suggest.ts";
import type { FieldPath } from "./_source.ts";

/** A problem at a field, before it has a place. */
export interface FieldProblem {
  /** The field. */
  path: FieldPath;
  /** What is wrong. */
  wrong: string;
  /** What is allowed. */
  allowed: string;
}

/** The keys the schema allows in the mapping at `path`, if it is a mapping of known keys. */
export function knownKeys(schema: z.core.$ZodType, path: FieldPath): string[] | undefined {
  let here: z.core.$ZodType | undefined = schema;
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType[] => {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) {
      return unwrap(s.unwrap() as z.core.$ZodType);
    }
    if (s instanceof z.ZodUnion) return (s.options as z.core.$ZodType[]).flatMap(unwrap);
    return [s];
  };
  for (const segment of path) {
    const options: z.core.$ZodType[] = here === undefined ? [] : unwrap(here);
    here = undefined;
    for (const option of options) {
      if (typeof segment === "number" && option instanceof z.ZodArray) {
        here = option.element as z.core.$ZodType;
      } else if (typeof segment === "string" && option instanceof z.ZodObject) {
        here = (option.shape as Record<string, z.core.$ZodType>)[segment];
      }
      if (here !== undefined) break;
    }
    if (here === undefined) return undefined;
  }
  const object = here === undefined
    ? undefined
    : unwrap(here).find((s) => s instanceof z.ZodObject);
  return object === undefined ? undefined : Object.keys((object as z.ZodObject).shape);
}

/** Whether a union branch's issues say the value is not of that branch's kind at all. */
function wrongKindFor(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.some((issue) =>
    issue.path.length === 0 && (issue.code === "invalid_type" || issue.code === "invalid_value")
  );
}

/**
 * Turns zod's issues into problems at fields.
 *
 * @param schema The schema parsed with (for the keys of a mapping with an unknown one).
 * @param issues The issues, parsed with `definitionErrorMap`.
 * @param base The path the issues' paths are relative to.
 * @returns One problem per issue, and per unknown key.
 */
export function fieldProblems(
  schema: z.core.$ZodType,
  issues: readonly z.core.$ZodIssue[],
  base: FieldPath = [],
): FieldProblem[] {
  return issues.flatMap((issue): FieldProblem[] => {
    const path = [...base, ...issue.path as (string | number)[]];
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(schema, path) ?? [];
      return issue.keys.map((key) => {
        const near = nearestKey(key, known);
        return {
          path: [...path, key],
          wrong: "unknown field",
          allowed: near !== undefined
            ? `did you mean ${JSON.stringify(near)}?`
            : `expected one of ${known.join(", ")}`,
        };
      });
    }
    if (issue.code === "invalid_union") {
      const fitting = issue.errors.filter((branch) => !wrongKindFor(branch));
      if (fitting.length === 1) return fieldProblems(schema, fitting[0], path);
    }
    const { wrong, allowed } = decodeText(issue.message);
    return [{ path, wrong, allowed }];
  });
}

/** A field path as a user writes it: `disks[1].size`, `seed.metaData["a key"]`. */
export function fieldName(path: FieldPath): string {
  let name = "";
  for (const segment of path) {
    if (typeof segment === "number") name += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) {
      name += name === "" ? segment : `.${segment}`;
    } else name += `[${JSON.stringify(segment)}]`;
  }
  return name;
}
