// How a zod issue is worded for a user: "<what is wrong>, <what is allowed>". zod carries the
// two halves as the issue's message, JSON-encoded, from the error map (which sees the schema, so
// knows the field's words) to the translation into positioned problems (_issues.ts).

import type { z } from "npm:zod@^4.1.0";
import { ALLOWED } from "./_allowed.ts";
import { nearestKey } from "./_suggest.ts";

/** The two halves of a problem's message. */
export interface ProblemText {
  /** What is wrong: `"10X" is not a size`. */
  wrong: string;
  /** What is allowed: `expected a size such as "10G"`. */
  allowed: string;
}

const MARK = "vmkit-definition:";

/** Encodes a problem as a zod issue message. */
export function encodeText(text: ProblemText): string {
  return MARK + JSON.stringify(text);
}

/**
 * Adds a problem to a refinement's issues, in the encoded form `_issues.ts` reads.
 *
 * @param ctx The refinement context.
 * @param wrong What is wrong.
 * @param allowed What is allowed.
 * @param path The field, relative to the value refined.
 */
export function addProblem(
  ctx: z.core.$RefinementCtx,
  wrong: string,
  allowed: string,
  path: (string | number)[] = [],
): void {
  ctx.addIssue({ code: "custom", message: encodeText({ wrong, allowed }), path });
}

/** Decodes a message made by {@linkcode encodeText}; any other message becomes `wrong`. */
export function decodeText(message: string): ProblemText {
  if (message.startsWith(MARK)) return JSON.parse(message.slice(MARK.length)) as ProblemText;
  return { wrong: message, allowed: "" };
}

/** A value as a message shows it: strings quoted (and cut when long), lists and mappings named. */
export function shown(value: unknown): string {
  if (value === null || value === undefined) return "an empty value";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** What kind of value this is, in words. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "true/false";
  if (Array.isArray(value)) return "a list";
  return "a mapping";
}

/** "X is a Y": what a value of the wrong type is. */
export function wrongKind(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "empty";
  if (typeof value === "object") return `${kindOf(value)} is not allowed here`;
  return `${shown(value)} is ${kindOf(value)}`;
}

/** What a raw zod issue says is wrong. */
function wrongOf(issue: z.core.$ZodRawIssue, noun: string | undefined): string {
  const input = issue.input;
  switch (issue.code) {
    case "invalid_type":
      if (issue.expected === "int" && typeof input === "number") {
        return `${input} is not a whole number`;
      }
      return wrongKind(input);
    case "invalid_value":
      return `${shown(input)} is not allowed`;
    case "too_small":
      if (Array.isArray(input)) return "the list is empty";
      if (typeof input === "string") return `${shown(input)} is too short`;
      return `${shown(input)} is too small`;
    case "too_big":
      if (Array.isArray(input)) return "the list is too long";
      if (typeof input === "string") return `${shown(input)} is too long`;
      return `${shown(input)} is too large`;
    case "invalid_format":
      return `${shown(input)} is not ${noun ?? "in the right form"}`;
    case "invalid_union":
      return typeof input === "string" ? `${shown(input)} is not allowed` : wrongKind(input);
    default:
      return `${shown(input)} is not allowed`;
  }
}

/** What is allowed when the schema has no words of its own: from what zod expected. */
function allowedOf(issue: z.core.$ZodRawIssue): string {
  if (issue.code === "invalid_type") {
    const words: Record<string, string> = {
      string: "text",
      number: "a number",
      int: "a whole number",
      boolean: "true or false",
      array: "a list",
      object: "a mapping",
    };
    return `expected ${words[issue.expected] ?? issue.expected}`;
  }
  if (issue.code === "invalid_value") {
    return `expected ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  return "see the schema (lib/cli/vm.schema.json)";
}

/**
 * The error map a definition is parsed with: the field's own words (registered with
 * `allowing()`) for what is allowed, and the issue and the value for what is wrong.
 *
 * @param issue The raw issue.
 * @returns The encoded message.
 */
export function definitionErrorMap(issue: z.core.$ZodRawIssue): string {
  const schema = (issue.schema ?? issue.inst) as z.core.$ZodType | undefined;
  const words = schema === undefined ? undefined : ALLOWED.get(schema);
  if (issue.code === "invalid_value" && typeof issue.input === "string") {
    // A value of an enum mistyped: "x86-64", "TCP", "efi".
    const values = issue.values.filter((v): v is string => typeof v === "string");
    const near = nearestKey(issue.input, values);
    if (near !== undefined) {
      return encodeText({
        wrong: wrongOf(issue, words?.noun),
        allowed: `did you mean ${JSON.stringify(near)}?`,
      });
    }
  }
  return encodeText({
    wrong: wrongOf(issue, words?.noun),
    allowed: words === undefined ? allowedOf(issue) : words.allowed,
  });
}
