/**
 * Loading a VM definition: YAML or JSON, `extends:` followed, `--set` overrides applied, every
 * field checked against the schema, host paths made absolute and the files they name looked
 * at, and the builder tried; every problem is reported with where it was written.
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize, resolve } from "node:path";
import { definitionErrorMap, shown } from "./_issue_text.ts";
import { fieldName, fieldProblems } from "./_issues.ts";
import { isMapping, type Layer, mergeLayers, type Origins } from "./_layers.ts";
import { missingFile, PathError, pathFields, resolvePath } from "./_paths.ts";
import { applySet, parseSet, SetError } from "./_set.ts";
import { type FieldPath, parseSource, SourceSyntaxError } from "./_source.ts";
import { buildDefinition, StepFailure } from "./_build.ts";
import { definitionWords } from "./_builder_words.ts";
import { fitProblems } from "./_fit.ts";
import { DefinitionError, type DefinitionProblem } from "./definition_error.ts";
import { type VmDefinition, vmDefinitionSchema } from "./schema.ts";
import type { VmBuilder } from "../../vm/builder.ts";

/** A definition read from a file. */
export interface LoadedDefinition {
  /** The file, as an absolute path. */
  path: string;
  /** The definition: checked, `extends` followed and left out, host paths absolute. */
  definition: VmDefinition;
}

/** Options of {@linkcode loadDefinition}. */
export interface LoadDefinitionOptions {
  /**
   * Overrides, as `--set` takes them: `memory=2G`, `cpus=4`, `disks[0].size=20G`,
   * `ssh.user=me`; the value is read as YAML reads a scalar or a flow collection. Applied in
   * order, after `extends`; a relative path given this way is read from the working directory.
   */
  set?: readonly string[];
}

/** The most files an `extends` chain may have. */
const MAX_CHAIN = 32;

type Problem = Omit<DefinitionProblem, "message">;

/**
 * Problems in reading order: the file given first, then the files it extends, then the `--set`
 * flags; by line and column within each.
 */
function inOrder(problems: Problem[], layers: readonly Layer[]): Problem[] {
  const rank = (p: Problem) => {
    const at = layers.findIndex((l) => l.name === p.file);
    return at < 0 ? layers.length : at;
  };
  return problems.map((p, i) => ({ p, i })).sort((a, b) =>
    rank(a.p) - rank(b.p) || (a.p.line ?? Infinity) - (b.p.line ?? Infinity) ||
    (a.p.column ?? Infinity) - (b.p.column ?? Infinity) || a.i - b.i
  ).map(({ p }) => p);
}

/** A problem at a field of a layer. */
function problemAt(layer: Layer, path: FieldPath, wrong: string, allowed: string): Problem {
  const position = layer.source?.positionOf(path);
  return {
    file: layer.name,
    line: position?.line,
    column: position?.column,
    field: fieldName(path),
    wrong,
    allowed,
  };
}

/** Reads one file of the chain: its value and positions, or the problem with it. */
async function readLayer(file: string, name: string): Promise<Layer & { value: unknown }> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DefinitionError([{
        file: name,
        line: undefined,
        column: undefined,
        field: "",
        wrong: "the file does not exist",
        allowed: "expected the path of a VM definition (YAML or JSON)",
      }]);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new DefinitionError([{
        file: name,
        line: undefined,
        column: undefined,
        field: "",
        wrong: "it is a directory",
        allowed: "expected the path of a VM definition (YAML or JSON)",
      }]);
    }
    throw error;
  }
  // A byte order mark is no part of the text (JSON.parse would refuse it; editors do not count it).
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const json = file.toLowerCase().endsWith(".json");
  try {
    const source = parseSource(text, json);
    return { name, dir: dirname(file), source, value: source.value };
  } catch (error) {
    if (!(error instanceof SourceSyntaxError)) throw error;
    throw new DefinitionError([{
      file: name,
      line: error.position?.line,
      column: error.position?.column,
      field: "",
      wrong: `${error.message} (${json ? "JSON" : "YAML"} syntax)`,
      allowed: "",
    }]);
  }
}

/** A file of an `extends` chain, read. */
interface ChainFile {
  layer: Layer;
  value: Record<string, unknown>;
}

/**
 * Reads a file and the files it extends, the base first.
 *
 * @param file The absolute path.
 * @param name How problems name it.
 */
async function readChain(file: string, name: string): Promise<ChainFile[]> {
  const chain: (ChainFile & { real: string })[] = [];
  let next: { file: string; name: string } | undefined = { file, name };
  while (next !== undefined) {
    const { value, ...layer } = await readLayer(next.file, next.name);
    if (!isMapping(value)) {
      throw new DefinitionError([
        problemAt(
          layer,
          [],
          `the file holds ${shown(value)}`,
          "expected a mapping of fields (arch, cpus, memory, disks...)",
        ),
      ]);
    }
    chain.push({ layer, value, real: await Deno.realPath(next.file) });
    const current: { file: string; name: string } = next;
    next = undefined;
    const extending = value.extends;
    if (extending === undefined) break;
    if (typeof extending !== "string" || extending === "") {
      throw new DefinitionError([
        problemAt(
          layer,
          ["extends"],
          `${shown(extending)} is not a path`,
          "expected the path of another definition, relative to this file",
        ),
      ]);
    }
    let target: string;
    try {
      target = resolvePath(extending, layer.dir);
    } catch (error) {
      if (!(error instanceof PathError)) throw error;
      throw new DefinitionError([
        problemAt(layer, ["extends"], error.message, "expected a path without ~, or HOME set"),
      ]);
    }
    const real = await Deno.realPath(target).catch(() => undefined);
    const loop = chain.findIndex((c) => c.real === real);
    if (loop >= 0) {
      const names = [...chain.slice(loop).map((c) => c.layer.name), chain[loop].layer.name];
      throw new DefinitionError([
        problemAt(
          layer,
          ["extends"],
          `the chain of extends loops: ${names.join(" → ")}`,
          "expected a chain that ends in a file without extends",
        ),
      ]);
    }
    if (real === undefined) {
      throw new DefinitionError([
        problemAt(
          layer,
          ["extends"],
          `${JSON.stringify(target)} does not exist`,
          "expected the path of another definition, relative to this file",
        ),
      ]);
    }
    if (chain.length >= MAX_CHAIN) {
      throw new DefinitionError([
        problemAt(
          layer,
          ["extends"],
          `the chain of extends is longer than ${MAX_CHAIN} files`,
          "expected a shorter chain",
        ),
      ]);
    }
    // Named as the user would reach it: relative to the name of the file that extends it.
    const targetName = isAbsolute(extending) || extending.startsWith("~")
      ? target
      : normalize(join(dirname(current.name), extending));
    next = { file: target, name: targetName };
  }
  return chain.reverse().map(({ layer, value }) => ({ layer, value }));
}

/** The problems of a checked definition's host paths, which it makes absolute in place. */
async function checkPaths(
  def: VmDefinition,
  origins: Origins,
  top: Layer,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const field of pathFields(def)) {
    const layer = origins.layerOf(field.path, top);
    let resolved: string;
    try {
      resolved = resolvePath(field.value, layer.dir);
    } catch (error) {
      if (!(error instanceof PathError)) throw error;
      problems.push(problemAt(layer, field.path, error.message, "expected a path without ~"));
      continue;
    }
    setAt(def, field.path, resolved);
    const disk = field.path[0] === "disks" ? def.disks![field.path[1] as number] : undefined;
    const why = await missingFile(field, resolved, disk?.format);
    if (why !== undefined) {
      const from = layer.source === undefined
        ? "the working directory"
        : `the directory of ${layer.name}`;
      const what = field.expect === "image" ? "a disk image (raw or qcow2)" : field.what;
      problems.push(
        problemAt(layer, field.path, why, `expected ${what}; a relative path is read from ${from}`),
      );
    }
  }
  return problems;
}

function setAt(target: unknown, path: FieldPath, value: unknown): void {
  let here = target as Record<string | number, unknown>;
  for (const segment of path.slice(0, -1)) here = here[segment] as Record<string | number, unknown>;
  here[path[path.length - 1]] = value;
}

/**
 * Loads a VM definition from a YAML or JSON file (`.json`): follows `extends`, applies the
 * `--set` overrides, checks every field, makes host paths absolute (relative ones from the
 * directory of the file they are written in, `~/` from HOME), checks that the files they name
 * exist (and that a kernel is one, for the VM's architecture), checks what this host can run
 * (the machine's CPU limit, the host's memory, KVM for `accel: kvm`, the tiny guest's memory
 * floor and 9p), and tries the builder on it. Nothing is made.
 *
 * @param path The definition file.
 * @param options The `--set` overrides.
 * @returns The definition.
 * @throws {DefinitionError} With every problem found, each as
 *   `vm.yaml:12:5: disks[1].size: "10X" is not a size, expected ...`.
 *
 * @example
 * ```ts
 * import { definitionBuilder, loadDefinition } from "./mod.ts";
 * const { definition } = await loadDefinition("recipes/vm/tiny.yaml", { set: ["memory=512M"] });
 * const builder = await definitionBuilder(definition, { diskDir: "/tmp/vm", create: false });
 * console.log(builder.toShell());
 * ```
 */
export async function loadDefinition(
  path: string,
  options: LoadDefinitionOptions = {},
): Promise<LoadedDefinition> {
  const absolute = resolve(path);
  const chain = await readChain(absolute, path);
  const top = chain[chain.length - 1].layer;
  const layers = chain.map(({ layer, value: written }) => {
    const { extends: _, $schema: __, ...value } = written;
    return { layer, value };
  });
  const { value, origins } = mergeLayers(layers);

  const problems: Problem[] = [];
  for (const argument of options.set ?? []) {
    const layer: Layer = { name: `--set ${argument}`, dir: Deno.cwd() };
    try {
      applySet(value, parseSet(argument), origins, layer);
    } catch (error) {
      if (!(error instanceof SetError)) throw error;
      problems.push({
        file: layer.name,
        line: undefined,
        column: undefined,
        field: error.field,
        wrong: error.wrong,
        allowed: error.allowed,
      });
    }
  }
  if (problems.length > 0) throw new DefinitionError(problems);

  const parsed = vmDefinitionSchema.safeParse(value, { error: definitionErrorMap });
  if (!parsed.success) {
    const found = fieldProblems(vmDefinitionSchema, parsed.error.issues).map((p) =>
      problemAt(origins.layerOf(p.path, top), p.path, p.wrong, p.allowed)
    );
    throw new DefinitionError(inOrder(found, chain.map((c) => c.layer).reverse()));
  }
  const definition = parsed.data;
  const missing = await checkPaths(definition, origins, top);
  // What this host, its QEMU and the files named cannot run (a missing file is left to above).
  const unfit = (await fitProblems(definition)).map((p) =>
    problemAt(origins.layerOf(p.path, top), p.path, p.wrong, p.allowed)
  );
  if (missing.length + unfit.length > 0) {
    throw new DefinitionError(inOrder([...missing, ...unfit], chain.map((c) => c.layer).reverse()));
  }
  let builder: VmBuilder;
  try {
    builder = await buildDefinition(definition, { diskDir: "/vmkit-disks", create: false });
  } catch (error) {
    if (!(error instanceof StepFailure)) throw error;
    const layer = origins.layerOf(error.path, top);
    throw new DefinitionError([problemAt(layer, error.path, definitionWords(error.message), "")], {
      cause: error.error,
    });
  }
  try {
    // What only the whole command line shows (ids used twice, ssh without a forward...).
    // Firmware named by what it is ("uefi") is found at launch and takes no part in it.
    const checked = definition.firmware === undefined ? builder : await buildDefinition(
      { ...definition, firmware: undefined },
      { diskDir: "/vmkit-disks", create: false },
    );
    const driveFormats = Object.fromEntries(checked.drives.map((d) => [d.id, d.format ?? "raw"]));
    checked.toArgv({ driveFormats });
  } catch (error) {
    if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
    throw new DefinitionError([{
      file: top.name,
      line: undefined,
      column: undefined,
      field: "",
      wrong: definitionWords(error.message),
      allowed: "",
    }], { cause: error });
  }
  return { path: absolute, definition };
}
