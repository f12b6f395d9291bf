/**
 * The JSON Schema of VM definitions, for editors: made from the zod schema, written to
 * `lib/cli/vm.schema.json` by `deno task gen:schema`.
 *
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import { vmDefinitionSchema } from "./schema.ts";

/** The `$comment` of the JSON Schema file: it is generated, and how to regenerate it. */
export const SCHEMA_COMMENT =
  "Generated from lib/cli/definition/schema.ts by scripts/gen_schema.ts; regenerate with: deno task gen:schema";

/**
 * The JSON Schema (draft-07, which every editor reads) of a VM definition.
 *
 * @returns The schema, as plain data.
 *
 * @example
 * ```ts
 * import { vmDefinitionJsonSchema } from "./mod.ts";
 * console.log(JSON.stringify(vmDefinitionJsonSchema(), null, 2));
 * ```
 */
export function vmDefinitionJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(vmDefinitionSchema, { target: "draft-7", io: "input" });
  const { $schema, ...rest } = schema as Record<string, unknown>;
  return { $schema, $comment: SCHEMA_COMMENT, title: "vmkit VM definition", ...rest };
}
