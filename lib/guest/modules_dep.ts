/**
 * Parsing `modules.dep` and resolving kernel modules with their dependencies.
 *
 * @module
 */

/** One module of a `modules.dep` file. */
export interface KernelModule {
  /** Canonical name: file name without `.ko[.xz|.gz|.zst]`, with `-` folded to `_`. */
  name: string;
  /** Path relative to the modules directory, as `modules.dep` writes it. */
  path: string;
  /** Paths of the modules this one needs, as `modules.dep` lists them. */
  dependencies: string[];
}

/**
 * Canonical module name of a path or name: `kernel/drivers/virtio/virtio-rng.ko.xz` and
 * `virtio-rng` both give `virtio_rng`.
 *
 * @param pathOrName A module path from `modules.dep` or a module name.
 * @returns The canonical name.
 */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, "").replaceAll("-", "_");
}

/**
 * Parses the text of a `modules.dep` file.
 *
 * @param text The file's content.
 * @returns Every module by canonical name.
 * @throws {SyntaxError} When a line is not `path: dependency...`.
 *
 * @example
 * ```ts
 * import { parseModulesDep } from "@vmkit/vmkit";
 * const modules = parseModulesDep("kernel/virtio_blk.ko: kernel/virtio.ko\nkernel/virtio.ko:\n");
 * console.log(modules.get("virtio_blk")?.dependencies); // ["kernel/virtio.ko"]
 * ```
 */
export function parseModulesDep(text: string): Map<string, KernelModule> {
  const modules = new Map<string, KernelModule>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new SyntaxError(
        `Cannot parse modules.dep line ${i + 1} ${JSON.stringify(line)}: expected "path: deps"`,
      );
    }
    const path = line.slice(0, colon).trim();
    const dependencies = line.slice(colon + 1).trim().split(/\s+/).filter((dep) => dep !== "");
    modules.set(moduleName(path), { name: moduleName(path), path, dependencies });
  }
  return modules;
}

/** Options of {@linkcode resolveModules}. */
export interface ResolveModulesOptions {
  /**
   * Canonical names of modules built into the kernel (from `modules.builtin`): asking for one
   * of them is satisfied without loading anything.
   */
  builtin?: ReadonlySet<string>;
}

/**
 * Resolves module names to the list of modules to load, dependencies first, each once.
 *
 * @param modules The parsed `modules.dep`.
 * @param names Module names (`virtio-blk` and `virtio_blk` are the same module).
 * @param options Modules built into the kernel.
 * @returns Modules in a valid load order.
 * @throws {RangeError} When a name, or a dependency, is not in `modules.dep`.
 *
 * @example
 * ```ts
 * import { parseModulesDep, resolveModules } from "@vmkit/vmkit";
 * const modules = parseModulesDep("a/virtio_blk.ko: a/virtio.ko\na/virtio.ko:\n");
 * const order = resolveModules(modules, ["virtio-blk"]).map((m) => m.name);
 * console.log(order); // ["virtio", "virtio_blk"]
 * ```
 */
export function resolveModules(
  modules: ReadonlyMap<string, KernelModule>,
  names: readonly string[],
  options: ResolveModulesOptions = {},
): KernelModule[] {
  const byPath = new Map<string, KernelModule>();
  for (const module of modules.values()) byPath.set(module.path, module);
  const order: KernelModule[] = [];
  const done = new Set<string>();
  const visit = (module: KernelModule): void => {
    if (done.has(module.path)) return;
    done.add(module.path);
    // modules.dep lists the full transitive closure, nearest dependencies first; loading
    // each dependency's own dependencies first gives a valid order without relying on that.
    for (const depPath of module.dependencies) {
      const dep = byPath.get(depPath);
      if (dep === undefined) {
        throw new RangeError(
          `Cannot resolve module "${module.name}": its dependency "${depPath}" is not in modules.dep`,
        );
      }
      visit(dep);
    }
    order.push(module);
  };
  for (const name of names) {
    const module = modules.get(moduleName(name));
    if (module === undefined && options.builtin?.has(moduleName(name))) continue;
    if (module === undefined) {
      throw new RangeError(
        `Cannot resolve module "${name}": it is neither in modules.dep nor built into the kernel`,
      );
    }
    visit(module);
  }
  return order;
}
