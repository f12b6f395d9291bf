// `extends:` and `--set`: a definition is layers (the base first, then each file extending it,
// then each --set), merged into one value; every field remembers the layer it was written in,
// so a problem is reported where the bad value was written and a relative path is read from
// that file's directory.

import { type FieldPath, pathKey, type SourceFile } from "./_source.ts";

/** Where values come from: a file, or a `--set` flag. */
export interface Layer {
  /** How problems name it: the file's path as the user would write it, or `--set k=v`. */
  name: string;
  /** The directory relative paths written in it are read from. */
  dir: string;
  /** The parsed file, for positions; none for a `--set`. */
  source?: SourceFile;
}

/** Which layer wrote each field of a merged value. */
export class Origins {
  #layers = new Map<string, Layer>();

  /** Records that `layer` wrote the value at `path` (and, unless told otherwise, under it). */
  set(path: FieldPath, layer: Layer): void {
    this.#layers.set(pathKey(path), layer);
  }

  /**
   * The layer that wrote the value at `path`: the one recorded for the longest prefix of it.
   *
   * @param path The field.
   * @param fallback The layer when nothing is recorded (the top file).
   */
  layerOf(path: FieldPath, fallback: Layer): Layer {
    let found = fallback;
    for (let n = path.length; n >= 0; n--) {
      const layer = this.#layers.get(pathKey(path.slice(0, n)));
      if (layer !== undefined) {
        found = layer;
        break;
      }
    }
    if (found.source === undefined || found.source.has(path)) return found;
    // Not written in that file: made by a --set below it (ssh.user=me makes ssh).
    const prefix = pathKey(path).slice(0, -1);
    for (const [key, layer] of this.#layers) {
      if (layer !== found && key.startsWith(prefix) && key.length > prefix.length + 1) return layer;
    }
    return found;
  }
}

/** Whether a value is a mapping (not a list, not null). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One layer's value for a field. */
interface Written {
  layer: Layer;
  value: unknown;
}

function mergeAt(path: (string | number)[], written: Written[], origins: Origins): unknown {
  const last = written[written.length - 1];
  origins.set(path, last.layer);
  if (!isMapping(last.value)) return structuredClone(last.value);
  // Mappings merge field by field back to the last layer that wrote something else there.
  let first = written.length - 1;
  while (first > 0 && isMapping(written[first - 1].value)) first--;
  const run = written.slice(first) as { layer: Layer; value: Record<string, unknown> }[];
  const merged: Record<string, unknown> = {};
  const keys = new Set(run.flatMap((w) => Object.keys(w.value)));
  for (const key of keys) {
    const below = run.filter((w) => Object.hasOwn(w.value, key)).map((w) => ({
      layer: w.layer,
      value: w.value[key],
    }));
    merged[key] = mergeAt([...path, key], below, origins);
  }
  return merged;
}

/**
 * Merges the layers of a definition, the base first: mappings merge field by field; a list or
 * any other value replaces what a layer below wrote.
 *
 * @param layers The layers and their values.
 * @returns The merged value, and which layer wrote each field.
 */
export function mergeLayers(
  layers: readonly { layer: Layer; value: Record<string, unknown> }[],
): { value: Record<string, unknown>; origins: Origins } {
  const origins = new Origins();
  const value = mergeAt([], [...layers], origins) as Record<string, unknown>;
  return { value, origins };
}
