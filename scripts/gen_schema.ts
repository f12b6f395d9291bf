#!/usr/bin/env -S deno run --allow-write=lib/cli/vm.schema.json
/**
 * Writes `lib/cli/vm.schema.json`, the JSON Schema editors read for VM definitions
 * (`# yaml-language-server: $schema=...`), from the zod schema in
 * `lib/cli/definition/schema.ts`: `deno task gen:schema`.
 *
 * @module
 */

import { vmDefinitionJsonSchema } from "../lib/cli/definition/json_schema.ts";

/** The schema file's text: the schema as indented JSON, as `deno fmt` leaves it. */
export function schemaFileText(): string {
  return JSON.stringify(vmDefinitionJsonSchema(), null, 2) + "\n";
}

if (import.meta.main) {
  const path = new URL("../lib/cli/vm.schema.json", import.meta.url);
  await Deno.writeTextFile(path, schemaFileText());
  console.log(`wrote ${decodeURIComponent(path.pathname)}`);
}
