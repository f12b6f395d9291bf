/**
 * The `qmp-shell` command syntax: `command key=value ...`, with dotted keys for nested objects
 * and JSON values, or a raw JSON command.
 *
 * @module
 */

/** A command read from a line. */
export interface ParsedCommand {
  /** The command name. */
  command: string;
  /** Its arguments, if any were given. */
  arguments?: Record<string, unknown>;
}

function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let depth = 0;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== undefined) {
      if (c === "\\" && i + 1 < line.length) {
        word += c + line[++i];
        continue;
      }
      if (c === quote) quote = undefined;
      word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word += c;
      inWord = true;
    } else if (c === "{" || c === "[") {
      depth++;
      word += c;
      inWord = true;
    } else if (c === "}" || c === "]") {
      depth--;
      word += c;
    } else if (/\s/.test(c) && depth === 0) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) {
    throw new SyntaxError(`Cannot parse ${JSON.stringify(line)}: a ${quote} quote is not closed`);
  }
  if (depth !== 0) {
    throw new SyntaxError(`Cannot parse ${JSON.stringify(line)}: brackets do not balance`);
  }
  if (inWord) words.push(word);
  return words;
}

function parseValue(text: string): unknown {
  if (text.startsWith("'") && text.endsWith("'") && text.length >= 2) return text.slice(1, -1);
  if (/^(-?\d|true$|false$|null$|["{\[])/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // Not JSON: a plain string such as "1G" or "-device".
    }
  }
  return text;
}

/**
 * Parses one line of `qmp-shell` syntax.
 *
 * - `query-status` → no arguments;
 * - `device_del id=disk1` → `{ id: "disk1" }`;
 * - `blockdev-add driver=qcow2 node-name=d file.driver=file file.filename=/tmp/d.qcow2` →
 *   nested `file` object; values that are JSON (`42`, `true`, `null`, `[...]`, `{...}`, `"..."`)
 *   are taken as JSON, anything else is a string (`'...'` quotes a string with spaces);
 * - `{"execute": "query-status"}` → a raw QMP command.
 *
 * @param line The line.
 * @returns The command and its arguments, or `undefined` for an empty line.
 * @throws {SyntaxError} For bad JSON, an unclosed quote, a word without `=`, or a key given twice.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "@vmkit/vmkit";
 * const parsed = parseCommandLine("blockdev-add driver=null-co node-name=n0 size=1048576");
 * console.log(parsed); // { command: "blockdev-add", arguments: { driver: "null-co", ... } }
 * ```
 */
export function parseCommandLine(line: string): ParsedCommand | undefined {
  const text = line.trim();
  if (text === "") return undefined;
  if (text.startsWith("{")) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new SyntaxError(`Cannot parse the JSON command: ${(error as Error).message}`);
    }
    const { execute, arguments: args } = raw as { execute?: unknown; arguments?: unknown };
    if (typeof execute !== "string" || execute === "") {
      throw new SyntaxError(`Cannot run the JSON command: it has no "execute" name`);
    }
    if (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))) {
      throw new SyntaxError(`Cannot run the JSON command: "arguments" is not an object`);
    }
    return args === undefined
      ? { command: execute }
      : { command: execute, arguments: args as Record<string, unknown> };
  }
  const [command, ...pairs] = splitWords(text);
  if (pairs.length === 0) return { command };
  const args: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new SyntaxError(`Cannot parse argument ${JSON.stringify(pair)}: write key=value`);
    }
    const path = pair.slice(0, eq).split(".");
    let target = args;
    for (const key of path.slice(0, -1)) {
      const next = target[key] ??= {};
      if (typeof next !== "object" || next === null || Array.isArray(next)) {
        throw new SyntaxError(`Cannot set "${pair.slice(0, eq)}": "${key}" already has a value`);
      }
      target = next as Record<string, unknown>;
    }
    const last = path[path.length - 1];
    if (last === "" || Object.hasOwn(target, last)) {
      throw new SyntaxError(`Cannot set "${pair.slice(0, eq)}": the key is empty or given twice`);
    }
    target[last] = parseValue(pair.slice(eq + 1));
  }
  return { command, arguments: args };
}
