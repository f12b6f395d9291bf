// What the schema's fields allow, in words, kept beside the zod schema (not in its JSON Schema):
// validation messages say what was wrong and then what is allowed.

import { z } from "npm:zod@^4.1.0";

/** Words for one field's values. */
export interface AllowedText {
  /** What is allowed: `a size such as "2G"`. */
  allowed: string;
  /** What a value of the right form is called, for format errors: `a size`. */
  noun?: string;
}

/** The words of each schema (and of the copies zod makes of it: `.describe()`, `.optional()`). */
export const ALLOWED: z.core.$ZodRegistry<AllowedText> = z.registry<AllowedText>();

/**
 * Registers what a schema allows and returns it.
 *
 * @param schema The schema.
 * @param allowed What is allowed, in words.
 * @param noun What a well-formed value is called.
 */
export function allowing<T extends z.ZodType>(schema: T, allowed: string, noun?: string): T {
  ALLOWED.add(schema, noun === undefined ? { allowed } : { allowed, noun });
  return schema;
}
