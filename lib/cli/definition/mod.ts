/**
 * VM definitions: a VM described in YAML (or JSON) for the `vmkit` command line, checked
 * against one zod schema (the TypeScript type, the runtime check and the JSON Schema editors
 * read), with `extends:` and `--set key=value` overrides, and errors that say where:
 * `vm.yaml:12:5: disks[1].size: "10X" is not a size, expected ...`.
 *
 * ```ts
 * import { definitionBuilder, loadDefinition } from "./mod.ts";
 * const { definition } = await loadDefinition("recipes/vm/tiny.yaml", { set: ["cpus=2"] });
 * const builder = await definitionBuilder(definition, { diskDir: "/tmp/tiny", create: true });
 * await using vm = await builder.launch();
 * ```
 *
 * @module
 */

export { loadDefinition, type LoadDefinitionOptions, type LoadedDefinition } from "./load.ts";
export { definitionBuilder, type DefinitionBuilderOptions } from "./definition_builder.ts";
export { DefinitionError, type DefinitionProblem } from "./definition_error.ts";
export { type VmDefinition, vmDefinitionSchema } from "./schema.ts";
export { vmDefinitionJsonSchema } from "./json_schema.ts";
