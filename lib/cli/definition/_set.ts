// `--set key=value`: a field path (`memory`, `disks[0].size`, `ssh.user`) and a value read as
// YAML reads a scalar or a flow collection (`4` is a number, `2G` text, `[a, b]` a list).

import { load, YAMLException } from "npm:js-yaml@^5.5.0";
import { isMapping, type Layer, type Origins } from "./_layers.ts";
import { shown } from "./_issue_text.ts";

/** A `--set` that cannot be read or applied: what is wrong and what is allowed. */
export class SetError extends Error {
  override readonly name = "SetError";
  /** What is wrong. */
  readonly wrong: string;
  /** What is allowed. */
  readonly allowed: string;
  /** The field path as written, when it could be read. */
  readonly field: string;

  constructor(field: string, wrong: string, allowed: string) {
    super(`${wrong}, ${allowed}`);
    this.field = field;
    this.wrong = wrong;
    this.allowed = allowed;
  }
}

/** One `--set` read. */
export interface SetOverride {
  /** The flag as the user gave it: `--set cpus=4`. */
  flag: string;
  /** The key as written: `disks[0].size`. */
  key: string;
  /** The field path: `["disks", 0, "size"]`. */
  path: (string | number)[];
  /** The value. */
  value: unknown;
}

const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]*/;
const PATH_ALLOWED =
  'expected field names joined by "." and list indexes in brackets, such as memory, disks[0].size or ssh.user';

/** Splits `disks[0].size` into `["disks", 0, "size"]`. */
function parseKey(key: string): (string | number)[] | undefined {
  const path: (string | number)[] = [];
  let rest = key;
  let first = true;
  while (rest !== "") {
    const index = /^\[(\d+)\]/.exec(rest);
    if (index !== null && !first) {
      path.push(Number(index[1]));
      rest = rest.slice(index[0].length);
      continue;
    }
    if (!first) {
      if (!rest.startsWith(".")) return undefined;
      rest = rest.slice(1);
    }
    const name = SEGMENT.exec(rest);
    if (name === null) return undefined;
    path.push(name[0]);
    rest = rest.slice(name[0].length);
    first = false;
  }
  return path.length === 0 ? undefined : path;
}

/**
 * Reads a `--set key=value` argument.
 *
 * @param argument What followed `--set`.
 * @returns The override.
 * @throws {SetError} For a missing `=`, a bad key, `extends`, or a value YAML cannot read.
 */
export function parseSet(argument: string): SetOverride {
  const flag = `--set ${argument}`;
  const equals = argument.indexOf("=");
  if (equals < 0) {
    throw new SetError(
      "",
      "no value given",
      "expected key=value, such as memory=2G, cpus=4 or disks[0].size=20G",
    );
  }
  const key = argument.slice(0, equals);
  const text = argument.slice(equals + 1);
  const path = parseKey(key);
  if (path === undefined) {
    throw new SetError("", `${JSON.stringify(key)} is not a field path`, PATH_ALLOWED);
  }
  if (path[0] === "extends" || path[0] === "$schema") {
    throw new SetError(
      key,
      `${path[0]} cannot be set on the command line`,
      "expected a field of the VM; write extends in a definition file",
    );
  }
  if (text.trim() === "") {
    throw new SetError(
      key,
      "no value given",
      `expected ${key}=VALUE (write ${key}='""' for empty text)`,
    );
  }
  let value: unknown;
  try {
    value = load(text);
  } catch (error) {
    if (!(error instanceof YAMLException)) throw error;
    throw new SetError(
      key,
      `${JSON.stringify(text)} is not a YAML value (${error.reason})`,
      "expected a value as YAML writes one: 2G, 4, true, [a, b], {host: 2222, guest: 22}",
    );
  }
  // Text YAML reads as nothing at all (a comment) is meant as text.
  return { flag, key, path, value: value === undefined ? text : value };
}

/**
 * Writes an override into a merged definition, making the mappings and lists on its way, and
 * records it as the origin of that field.
 *
 * @param target The merged definition.
 * @param set The override.
 * @param origins Where each field came from.
 * @param layer The override's layer.
 * @throws {SetError} For an index past the end of a list, or a field inside a value that is
 *   neither a mapping nor empty.
 */
export function applySet(
  target: Record<string, unknown>,
  set: SetOverride,
  origins: Origins,
  layer: Layer,
): void {
  let here: unknown = target;
  for (let i = 0; i < set.path.length; i++) {
    const segment = set.path[i];
    const last = i === set.path.length - 1;
    const next = set.path[i + 1];
    const written = set.key.slice(0, keyLength(set.path.slice(0, i)));
    if (typeof segment === "number") {
      const list = here as unknown[];
      if (segment > list.length) {
        throw new SetError(
          set.key,
          `${written} has ${list.length} item${
            list.length === 1 ? "" : "s"
          }, and there is no [${segment}]`,
          `expected an index from 0 to ${list.length} (${list.length} adds an item)`,
        );
      }
    }
    const container = here as Record<string | number, unknown>;
    if (last) {
      container[segment] = set.value;
      break;
    }
    const child = container[segment];
    const wantList = typeof next === "number";
    if (wantList ? Array.isArray(child) : isMapping(child)) {
      here = child;
      continue;
    }
    if (child === undefined || child === null || (!wantList && typeof child === "boolean")) {
      // `ssh: true` with `--set ssh.user=me` becomes `ssh: { user: me }`.
      container[segment] = wantList ? [] : {};
      here = container[segment];
      continue;
    }
    const name = set.key.slice(0, keyLength(set.path.slice(0, i + 1)));
    throw new SetError(
      set.key,
      `${name} is ${shown(child)}, which has no ${
        wantList ? `item [${next}]` : `field ${JSON.stringify(next)}`
      }`,
      `expected --set ${name}=VALUE with the whole value`,
    );
  }
  origins.set(set.path, layer);
}

/** How many characters of a key the first path segments take: `disks[0]` of `disks[0].size`. */
function keyLength(path: readonly (string | number)[]): number {
  return path.reduce<number>(
    (n, segment, i) =>
      n +
      (typeof segment === "number" ? `[${segment}]`.length : (i === 0 ? 0 : 1) + segment.length),
    0,
  );
}
