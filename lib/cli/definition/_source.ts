// Reading a definition's text (YAML, or JSON, which is YAML too) into its value and where each
// field was written, from js-yaml's event stream: a field path maps back to line:column.

import {
  constructFromEvents,
  CORE_SCHEMA,
  type Event,
  EVENT_ID,
  getScalarValue,
  mergeTag,
  parseEvents,
  SCALAR_STYLE,
  YAMLException,
} from "npm:js-yaml@^5.5.0";

/** YAML 1.2's core schema, with merge keys (`<<: *base`), as docker-compose users write. */
const YAML_SCHEMA = CORE_SCHEMA.withTags(mergeTag);

/** A field's path: keys and list indexes. */
export type FieldPath = readonly (string | number)[];

/** A place in a file, 1-based. */
export interface Position {
  line: number;
  column: number;
}

/** A file that is not YAML (or JSON): where, and what the parser said. */
export class SourceSyntaxError extends Error {
  override readonly name = "SourceSyntaxError";
  /** Where the parser stopped, when it said. */
  readonly position: Position | undefined;

  constructor(message: string, position: Position | undefined) {
    super(message);
    this.position = position;
  }
}

/** A parsed definition file. */
export interface SourceFile {
  /** The document's value. */
  value: unknown;
  /**
   * Where a field was written: the key of a mapping entry, the item of a list; for a path that
   * is not in the file (a missing field, or inside an alias), the nearest place that is.
   */
  positionOf(path: FieldPath): Position;
  /** Whether the file has this path itself. */
  has(path: FieldPath): boolean;
}

/** The map key of a path. */
export function pathKey(path: FieldPath): string {
  return JSON.stringify(path);
}

/** Where a node starts: its anchor or tag if it has one, else its value. */
function startOf(event: Event): number {
  const starts: number[] = [];
  if ("anchorStart" in event) starts.push(event.anchorStart);
  if ("tagStart" in event) starts.push(event.tagStart);
  if (event.type === EVENT_ID.SCALAR && event.valueStart >= 0) {
    // A quoted scalar's value starts after its opening quote.
    const quoted = event.style === SCALAR_STYLE.SINGLE_QUOTED ||
      event.style === SCALAR_STYLE.DOUBLE_QUOTED;
    starts.push(quoted ? event.valueStart - 1 : event.valueStart);
  }
  if (event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE) starts.push(event.start);
  const found = starts.filter((n) => n >= 0);
  return found.length === 0 ? -1 : Math.min(...found);
}

/** Records the offset of every field path of the document that starts at `events[first]`. */
function offsetsOf(events: readonly Event[], first: number, source: string): Map<string, number> {
  const offsets = new Map<string, number>();
  let i = first;
  const skip = () => {
    let depth = 0;
    do {
      const type = events[i].type;
      if (type === EVENT_ID.MAPPING || type === EVENT_ID.SEQUENCE) depth++;
      if (type === EVENT_ID.POP) depth--;
      i++;
    } while (depth > 0);
  };
  const node = (path: (string | number)[], at: number) => {
    const event = events[i];
    const start = startOf(event);
    offsets.set(pathKey(path), at);
    const own = start >= 0 ? start : at;
    i++;
    if (event.type === EVENT_ID.MAPPING) {
      while (events[i].type !== EVENT_ID.POP) {
        const key = events[i];
        if (key.type !== EVENT_ID.SCALAR) {
          skip(); // a complex key: the definition has none, the schema refuses what it holds
          skip();
          continue;
        }
        const keyStart = startOf(key);
        i++;
        node([...path, getScalarValue(source, key)], keyStart >= 0 ? keyStart : own);
      }
      i++;
    } else if (event.type === EVENT_ID.SEQUENCE) {
      let index = 0;
      while (events[i].type !== EVENT_ID.POP) {
        const itemStart = startOf(events[i]);
        node([...path, index++], itemStart >= 0 ? itemStart : own);
      }
      i++;
    }
  };
  const rootStart = startOf(events[first]);
  node([], rootStart >= 0 ? rootStart : 0);
  return offsets;
}

/** The 1-based line and column of offsets in `text`. */
function positionsIn(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid] <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - starts[low] + 1 };
  };
}

function yamlError(error: unknown): never {
  if (error instanceof YAMLException) {
    const mark = error.mark;
    throw new SourceSyntaxError(
      error.reason,
      mark === undefined ? undefined : { line: mark.line + 1, column: mark.column + 1 },
    );
  }
  throw error;
}

/** JSON.parse's error, with V8's "(line L column C)" as the position. */
function jsonError(error: unknown): never {
  if (error instanceof SyntaxError) {
    const where = /\(line (\d+) column (\d+)\)/.exec(error.message);
    const reason = error.message.replace(/ in JSON at position \d+.*$/s, "").replace(
      /^JSON\.parse: /,
      "",
    );
    throw new SourceSyntaxError(
      reason,
      where === null ? undefined : { line: Number(where[1]), column: Number(where[2]) },
    );
  }
  throw error;
}

/**
 * Parses a definition's text.
 *
 * @param text The file's text.
 * @param json Whether it is JSON (checked as JSON first: no comments, no trailing commas).
 * @returns The value and where its fields are.
 * @throws {SourceSyntaxError} For text that is not one YAML (or JSON) document.
 */
export function parseSource(text: string, json: boolean): SourceFile {
  let jsonValue: unknown;
  if (json) {
    try {
      jsonValue = JSON.parse(text);
    } catch (error) {
      jsonError(error);
    }
  }
  let events: Event[];
  let documents: unknown[];
  try {
    events = parseEvents(text, {});
    // Duplicate keys are refused here, for JSON too (JSON.parse keeps the last one).
    documents = constructFromEvents(events, { source: text, schema: YAML_SCHEMA });
  } catch (error) {
    yamlError(error);
  }
  const firsts = events.flatMap((e, i) => e.type === EVENT_ID.DOCUMENT ? [i + 1] : []);
  const position = positionsIn(text);
  if (firsts.length > 1) {
    const second = events.slice(firsts[1]).find((e) => startOf(e) >= 0);
    throw new SourceSyntaxError(
      `the file holds ${firsts.length} YAML documents, expected one`,
      second === undefined ? undefined : position(startOf(second)),
    );
  }
  if (firsts.length === 0) {
    throw new SourceSyntaxError(
      "the file is empty, expected a mapping of fields (arch, cpus, memory, disks...)",
      { line: 1, column: 1 },
    );
  }
  const offsets = offsetsOf(events, firsts[0], text);
  const offsetOf = (path: FieldPath): number => {
    for (let n = path.length; n >= 0; n--) {
      const offset = offsets.get(pathKey(path.slice(0, n)));
      if (offset !== undefined) return offset;
    }
    return 0;
  };
  return {
    value: json ? jsonValue : documents[0],
    positionOf: (path) => position(offsetOf(path)),
    has: (path) => offsets.has(pathKey(path)),
  };
}
