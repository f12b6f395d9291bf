#!/usr/bin/env -S deno run --allow-read=/usr/share/man/man7 --allow-write=lib/agent --allow-run=deno
/**
 * Generates `lib/agent/qga.ts`: TypeScript types for every QEMU guest agent command (arguments
 * and return) and every type of its protocol, from the agent's reference manual, qemu-ga-ref(7),
 * as Debian's `qemu-guest-agent` installs it (roff written by Sphinx from QEMU's
 * `qga/qapi-schema.json`). The agent has no schema introspection over the wire, so the manual is
 * the only machine-readable description on the system.
 *
 * Everything comes from the manual except the commands' return types: this version of the manual
 * gives a command's return only as prose ("PID on success."), so {@linkcode RETURN_TYPES} holds
 * them, written by hand from QEMU's `qga/qapi-schema.json`. The parse checks that table against
 * the manual (see {@linkcode parseQgaManual}), and `tests/agent/qga_test.ts` checks every reply of
 * the real `qemu-ga` against it.
 *
 * Usage: `deno task gen:qga [--manual /usr/share/man/man7/qemu-ga-ref.7.gz] [--out lib/agent/qga.ts]`
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Where Debian's `qemu-guest-agent` installs the agent's reference manual. */
export const QGA_MANUAL_PATH = "/usr/share/man/man7/qemu-ga-ref.7.gz";

/**
 * The return type of every command that returns something, in the manual's own notation, written
 * by hand from QEMU 7.2's `qga/qapi-schema.json`: the manual says what these commands return only
 * in prose, and gets two of them wrong ("List of GuestNetworkInfo", which is no type, and a single
 * `GuestDeviceInfo` for what is a list). Commands missing here return nothing (`{}`).
 */
export const RETURN_TYPES: Readonly<Record<string, string>> = {
  "guest-exec": "GuestExec",
  "guest-exec-status": "GuestExecStatus",
  "guest-file-open": "int",
  "guest-file-read": "GuestFileRead",
  "guest-file-seek": "GuestFileSeek",
  "guest-file-write": "GuestFileWrite",
  "guest-fsfreeze-freeze": "int",
  "guest-fsfreeze-freeze-list": "int",
  "guest-fsfreeze-status": "GuestFsfreezeStatus",
  "guest-fsfreeze-thaw": "int",
  "guest-fstrim": "GuestFilesystemTrimResponse",
  "guest-get-cpustats": "array of GuestCpuStats",
  "guest-get-devices": "array of GuestDeviceInfo",
  "guest-get-disks": "array of GuestDiskInfo",
  "guest-get-diskstats": "array of GuestDiskStatsInfo",
  "guest-get-fsinfo": "array of GuestFilesystemInfo",
  "guest-get-host-name": "GuestHostName",
  "guest-get-memory-block-info": "GuestMemoryBlockInfo",
  "guest-get-memory-blocks": "array of GuestMemoryBlock",
  "guest-get-osinfo": "GuestOSInfo",
  "guest-get-time": "int",
  "guest-get-timezone": "GuestTimezone",
  "guest-get-users": "array of GuestUser",
  "guest-get-vcpus": "array of GuestLogicalProcessor",
  "guest-info": "GuestAgentInfo",
  "guest-network-get-interfaces": "array of GuestNetworkInterface",
  "guest-set-memory-blocks": "array of GuestMemoryBlockResponse",
  "guest-set-vcpus": "int",
  "guest-ssh-get-authorized-keys": "GuestAuthorizedKeys",
  "guest-sync": "int",
  "guest-sync-delimited": "int",
};

/** A type as the manual writes it: a built-in (`int`, `string`, ...) or a named type, or a list. */
export interface QgaTypeRef {
  /** `int`, `number`, `string`, `boolean`, `any`, `null`, or a type the manual defines. */
  name: string;
  /** `true` for the manual's `array of <name>`. */
  array: boolean;
}

/** An argument of a command, a member of an object or a branch of an alternate. */
export interface QgaMember {
  /** The name on the wire. */
  name: string;
  /** Its type. */
  type: QgaTypeRef;
  /** `true` when the manual says "(optional)". */
  optional: boolean;
  /** The manual's description, as Markdown; "Not documented" where the manual says so. */
  doc: string;
}

/** What every definition of the manual has. */
export interface QgaDefinitionBase {
  /** The command's or type's name. */
  name: string;
  /** The description, notes and other prose, as Markdown paragraphs. */
  doc: string;
  /** The manual's "Since" text, if any. */
  since?: string;
  /** The manual's "If" text (a build condition such as `CONFIG_POSIX`), if any. */
  condition?: string;
}

/** A command of the agent. */
export interface QgaCommand extends QgaDefinitionBase {
  /** Discriminates the definitions. */
  kind: "command";
  /** Its arguments, in the manual's order. */
  arguments: QgaMember[];
  /** The manual's "Returns" prose, if it has a "Returns" section. */
  returns?: string;
  /** What the command returns, or `undefined` for nothing (`{}`). */
  returnType?: QgaTypeRef;
  /** `true` when the manual says the command sends no response on success. */
  noReply: boolean;
}

/** An enumeration: a string that is one of `values`. */
export interface QgaEnum extends QgaDefinitionBase {
  /** Discriminates the definitions. */
  kind: "enum";
  /** Its values and their descriptions. */
  values: { name: string; doc: string }[];
}

/** An object; a union when it has `branches`. */
export interface QgaObject extends QgaDefinitionBase {
  /** Discriminates the definitions. */
  kind: "object";
  /** Its members (for a union, including the tag). */
  members: QgaMember[];
  /** For a union: the member whose value selects a branch. */
  tag?: string;
  /** For a union: the object whose members are added for a value of the tag. */
  branches: { value: string; type: string }[];
}

/** An alternate: a value of any one of its members' types. */
export interface QgaAlternate extends QgaDefinitionBase {
  /** Discriminates the definitions. */
  kind: "alternate";
  /** Its branches. */
  members: QgaMember[];
}

/** A definition of the manual. */
export type QgaDefinition = QgaCommand | QgaEnum | QgaObject | QgaAlternate;

/** The parsed manual. */
export interface QgaManual {
  /** The QEMU version of the manual (its `.TH` line), such as `"7.2.22"`. */
  version: string;
  /** The manual's general note on the use of the agent's interfaces. */
  note: string;
  /** Every command and type, in the manual's order. */
  definitions: QgaDefinition[];
}

const BUILTIN_TYPES: Record<string, string> = {
  int: "number",
  number: "number",
  string: "string",
  boolean: "boolean",
  any: "unknown",
  null: "null",
};

const KINDS: Record<string, QgaDefinition["kind"]> = {
  Command: "command",
  Enum: "enum",
  Object: "object",
  Alternate: "alternate",
};

// The title of the section that lists a definition's arguments, values or members.
const LIST_TITLES: Record<QgaDefinition["kind"], string> = {
  command: "Arguments",
  enum: "Values",
  object: "Members",
  alternate: "Members",
};

const NOT_DOCUMENTED = "Not documented";

function fail(reason: string): never {
  throw new TypeError(`Cannot parse qemu-ga-ref(7): ${reason}`);
}

// roff escapes to text; fonts become Markdown (`code`, *emphasis*) unless `plain`.
function unescape(raw: string, plain = false): string {
  const text = raw
    .replace(/\\fB(.*?)\\fP/g, plain ? "$1" : "`$1`")
    .replace(/\\fI(.*?)\\fP/g, plain ? "$1" : "*$1*")
    .replace(/\\\(dq/g, '"')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\(bu/g, "-")
    .replace(/\\-/g, "-")
    .replace(/\\[&%]/g, "");
  const left = /\\(\(..|.)/.exec(text.replace(/\\\\/g, ""));
  if (left !== null) fail(`unknown escape "\\${left[1]}" in line "${raw}"`);
  return text;
}

// Running text, lists included, as Markdown.
function prose(lines: string[]): string {
  const out: string[] = [];
  let depth = 0;
  let item = false; // the next text line starts the item just opened
  for (const line of lines) {
    if (line === ".sp") {
      out.push("");
    } else if (line.startsWith(".INDENT")) {
      if (depth === 0) out.push("");
      depth++;
    } else if (line === ".UNINDENT") {
      depth--;
      if (depth === 0) out.push("");
    } else if (line.startsWith(".IP ")) {
      const match = /^\.IP (\S+) \d+$/.exec(line) ?? fail(`unknown list item "${line}"`);
      const bullet = match[1] === "\\(bu" ? "-" : match[1];
      out.push(`${"  ".repeat(Math.max(depth - 1, 0))}${bullet} `);
      item = true;
    } else if (line.startsWith(".")) {
      fail(`unknown request "${line}" in running text`);
    } else if (item) {
      out[out.length - 1] += unescape(line);
      item = false;
    } else {
      out.push(`${"  ".repeat(depth)}${unescape(line)}`);
    }
  }
  if (depth !== 0) fail(`unbalanced .INDENT in "${lines.join(" ")}"`);
  // A line of the manual starting with "@" must not start a JSDoc tag.
  return out.join("\n").replace(/\n{3,}/g, "\n\n").replace(/[ \t]+$/gm, "").trim()
    .replace(/^(\s*)@/gm, "$1\\@");
}

// A definition list (`.INDENT 0.0`, `.TP`, `.B term`, description, `.UNINDENT`), then any text
// after it.
function definitionList(
  lines: string[],
  where: string,
): { items: { term: string; body: string[] }[]; rest: string[] } {
  if (lines[0] !== ".INDENT 0.0") fail(`${where} is not a definition list`);
  const items: { term: string; body: string[] }[] = [];
  let depth = 1;
  let i = 1;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (depth === 1 && line === ".TP") {
      const term = lines[++i] ?? "";
      if (!term.startsWith(".B ")) fail(`${where} has a term without .B: "${term}"`);
      items.push({ term: term.slice(3), body: [] });
      continue;
    }
    if (line.startsWith(".INDENT")) depth++;
    if (line === ".UNINDENT" && --depth === 0) break;
    if (items.length === 0) fail(`${where} has text before its first term: "${line}"`);
    items[items.length - 1].body.push(line);
  }
  if (depth !== 0) fail(`${where} does not end`);
  return { items, rest: lines.slice(i + 1) };
}

function typeRef(raw: string, where: string): QgaTypeRef {
  const match = /^(array of )?([A-Za-z][A-Za-z0-9_-]*)$/.exec(unescape(raw, true)) ??
    fail(`${where} has the type "${unescape(raw, true)}"`);
  return { name: match[2], array: match[1] !== undefined };
}

const MEMBER = /^\\fB(.+?)\\fP: \\fB(.+?)\\fP( \(optional\))?$/;
const BRANCH = /^The members of \\fB(.+?)\\fP when \\fB(.+?)\\fP is \\fB\\\(dq(.+?)\\\(dq\\fP$/;

function member(item: { term: string; body: string[] }, where: string): QgaMember {
  const match = MEMBER.exec(item.term) ?? fail(`${where} has the term "${item.term}"`);
  const name = unescape(match[1], true);
  return {
    name,
    type: typeRef(match[2], `${where} member "${name}"`),
    optional: match[3] !== undefined,
    doc: prose(item.body),
  };
}

/**
 * Parses the agent's reference manual, and joins each command to its return type in
 * {@linkcode RETURN_TYPES}, checking that table against the manual: every command with a
 * "Returns" section other than "Nothing on success." has an entry and no other command has one; a
 * type the "Returns" prose names is the entry's type; prose that says "list of" goes with a list.
 *
 * @param roff The manual's text (qemu-ga-ref(7), uncompressed).
 * @returns Its commands and types.
 * @throws {TypeError} When the manual has something this parser does not know (a new kind of
 * section, term, roff request or escape), names a type it does not define, or disagrees with
 * {@linkcode RETURN_TYPES}: then the generator needs updating, not the output.
 */
export function parseQgaManual(roff: string): QgaManual {
  const lines = roff.split("\n");
  const th = lines.find((line) => line.startsWith(".TH ")) ?? fail("it has no .TH line");
  const version = [...th.matchAll(/"([^"]*)"/g)].map((m) => m[1])[3] ??
    fail(`its .TH line has no version: ${th}`);

  // Sections (.SH) and, in the protocol section, definitions (.SS \fBname\fP (Kind)).
  const noteStart = lines.findIndex((line) => /^\.SH GENERAL NOTE/.test(line));
  const start = lines.findIndex((line) => /^\.SH QEMU GUEST AGENT PROTOCOL/.test(line));
  if (noteStart < 0 || start < noteStart) fail("its sections are not the expected ones");
  const end = lines.findIndex((line, i) => i > start && line.startsWith(".SH "));
  const note = prose(lines.slice(noteStart + 1, start));
  const chunks: { name: string; kind: string; lines: string[] }[] = [];
  for (const line of lines.slice(start + 1, end < 0 ? undefined : end)) {
    const header = /^\.SS \\fB(.+?)\\fP \((\w+)\)$/.exec(line);
    if (header !== null) {
      chunks.push({ name: unescape(header[1], true), kind: header[2], lines: [] });
    } else if (chunks.length === 0) {
      fail(`text before the first definition: "${line}"`);
    } else {
      chunks[chunks.length - 1].lines.push(line);
    }
  }

  const definitions = chunks.map((chunk): QgaDefinition => {
    const kind = KINDS[chunk.kind] ??
      fail(`"${chunk.name}" is a ${chunk.kind}, which this generator does not know`);
    const where = `${chunk.kind.toLowerCase()} "${chunk.name}"`;
    const sections: { title: string; lines: string[] }[] = [{ title: "", lines: [] }];
    for (const line of chunk.lines) {
      const title = /^\.SS (.+)$/.exec(line);
      if (title !== null) sections.push({ title: unescape(title[1], true), lines: [] });
      else sections[sections.length - 1].lines.push(line);
    }
    const paragraphs: string[] = [];
    const notes: string[] = [];
    let items: { term: string; body: string[] }[] = [];
    let since: string | undefined;
    let condition: string | undefined;
    let returns: string | undefined;
    const listTitle = LIST_TITLES[kind];
    for (const section of sections) {
      const text = () => prose(section.lines);
      if (section.title === "") paragraphs.push(text());
      else if (section.title === listTitle) {
        const list = definitionList(section.lines, `${where}'s ${section.title}`);
        items = list.items;
        paragraphs.push(prose(list.rest));
      } else if (section.title === "Since") since = text();
      else if (section.title === "If") condition = text();
      else if (section.title === "Note" || section.title === "Notes") {
        notes.push(`${section.title}: ${text()}`);
      } else if (section.title === "Returns" && kind === "command") returns = text();
      else fail(`${where} has a section "${section.title}"`);
    }
    const doc = [...paragraphs, ...notes].filter((p) => p !== "").join("\n\n");
    const base = { name: chunk.name, doc, since, condition };
    if (kind === "enum") {
      return {
        ...base,
        kind,
        values: items.map((item) => {
          const match = /^\\fB(.+?)\\fP$/.exec(item.term) ??
            fail(`${where} has the value "${item.term}"`);
          return { name: unescape(match[1], true), doc: prose(item.body) };
        }),
      };
    }
    if (kind === "object") {
      const members: QgaMember[] = [];
      const branches: { value: string; type: string }[] = [];
      let tag: string | undefined;
      for (const item of items) {
        const branch = BRANCH.exec(item.term);
        if (branch === null) {
          members.push(member(item, where));
          continue;
        }
        const [type, on, value] = [branch[1], branch[2], branch[3]].map((s) => unescape(s, true));
        if (tag !== undefined && tag !== on) fail(`${where} branches on both ${tag} and ${on}`);
        tag = on;
        branches.push({ value, type });
      }
      if (tag !== undefined && !members.some((m) => m.name === tag)) {
        fail(`${where} branches on "${tag}", which is not one of its members`);
      }
      return { ...base, kind, members, tag, branches };
    }
    if (kind === "alternate") {
      return { ...base, kind, members: items.map((item) => member(item, where)) };
    }
    return {
      ...base,
      kind,
      arguments: items.map((item) => member(item, where)),
      returns,
      noReply: /does NOT return a response on success/.test(doc),
    };
  });

  // Every type named is built in or defined; the hand-written returns agree with the prose.
  const types = new Map(
    definitions.filter((d) => d.kind !== "command").map((d) => [d.name, d]),
  );
  const checkRef = (ref: QgaTypeRef, where: string) => {
    if (!(ref.name in BUILTIN_TYPES) && !types.has(ref.name)) {
      fail(`${where} has the type "${ref.name}", which the manual does not define`);
    }
  };
  const commandNames = new Set<string>();
  for (const definition of definitions) {
    if (definition.kind === "enum") continue;
    const members = definition.kind === "command" ? definition.arguments : definition.members;
    for (const m of members) checkRef(m.type, `"${definition.name}" member "${m.name}"`);
    if (definition.kind === "object") {
      for (const branch of definition.branches) {
        if (types.get(branch.type)?.kind !== "object") {
          fail(`"${definition.name}" has the branch "${branch.type}", which is not an object`);
        }
        const tag = definition.members.find((m) => m.name === definition.tag)!;
        const tagType = types.get(tag.type.name);
        if (tagType?.kind !== "enum" || !tagType.values.some((v) => v.name === branch.value)) {
          fail(`"${definition.name}" has a branch for "${branch.value}", no value of its tag`);
        }
      }
    }
    if (definition.kind !== "command") continue;
    commandNames.add(definition.name);
    const hand = RETURN_TYPES[definition.name];
    const returnsSomething = definition.returns !== undefined &&
      definition.returns !== "Nothing on success.";
    if (returnsSomething && hand === undefined) {
      fail(
        `"${definition.name}" returns "${definition.returns}", and its type is not in ` +
          "RETURN_TYPES: add it to scripts/gen_qga.ts from QEMU's qga/qapi-schema.json",
      );
    }
    if (!returnsSomething && hand !== undefined) {
      fail(`"${definition.name}" returns nothing, but RETURN_TYPES says "${hand}"`);
    }
    if (hand === undefined) continue;
    const ref = typeRef(hand, `RETURN_TYPES["${definition.name}"]`);
    checkRef(ref, `RETURN_TYPES["${definition.name}"]`);
    const named = [...types.keys()].filter((name) =>
      new RegExp(`(^|[^\\w-])${name}($|[^\\w-])`).test(definition.returns!)
    );
    if (named.length > 0 && !named.includes(ref.name)) {
      fail(`"${definition.name}" returns ${named.join(", ")}, but RETURN_TYPES says "${hand}"`);
    }
    if (/\blist of\b/i.test(definition.returns!) && !ref.array) {
      fail(`"${definition.name}" returns a list, but RETURN_TYPES says "${hand}"`);
    }
    definition.returnType = ref;
  }
  for (const name of Object.keys(RETURN_TYPES)) {
    if (!commandNames.has(name)) fail(`RETURN_TYPES names "${name}", which is no command`);
  }
  return { version, note, definitions };
}

function pascal(text: string): string {
  return text.split(/[^A-Za-z0-9]+/).filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1)).join("");
}

function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function ts(ref: QgaTypeRef): string {
  const name = BUILTIN_TYPES[ref.name] ?? ref.name;
  return ref.array ? `${name}[]` : name;
}

// A JSDoc block of Markdown text, in which `*/` cannot end it early.
function jsdoc(text: string, indent = ""): string {
  const lines = text.replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1 && !lines[0].includes("@since")) {
    return `${indent}/** ${lines[0]} */\n`;
  }
  return `${indent}/**\n${
    lines.map((line) => `${indent} *${line === "" ? "" : ` ${line}`}`).join("\n")
  }\n${indent} */\n`;
}

function definitionDoc(definition: QgaDefinition, extra: string[] = []): string {
  const parts = [definition.doc, ...extra].filter((p) => p !== "");
  // Where the manual describes a command only by what it returns, that is its description.
  if (definition.doc === "" && definition.kind === "command" && definition.returns) {
    parts.unshift(`Returns: ${definition.returns}`);
  }
  if (parts.length === 0) parts.push("No description in qemu-ga-ref(7).");
  if (definition.condition !== undefined) {
    parts.push(`Only where the agent is built with ${definition.condition}.`);
  }
  if (definition.since !== undefined) parts.push(`@since ${definition.since}`);
  return parts.join("\n\n");
}

function fields(members: QgaMember[]): string {
  return members.map((m) =>
    `${jsdoc(m.doc, "  ")}  ${key(m.name)}${m.optional ? "?" : ""}: ${ts(m.type)};\n`
  ).join("");
}

// A Markdown list of `label: doc` items.
function bulletList(items: { label: string; doc: string }[]): string {
  return items.map((item) => `- ${item.label}: ${item.doc.replace(/\n/g, "\n  ")}`).join("\n");
}

/** Counts of what a manual holds, as the generator reports them. */
export interface QgaCounts {
  /** Commands. */
  commands: number;
  /** Types: enums, objects (unions included), alternates. */
  types: number;
  /** Arguments, members and enum values. */
  members: number;
  /** Of `members`, those the manual describes (not "Not documented"). */
  documented: number;
}

/**
 * Counts the commands, types and members of a parsed manual.
 *
 * @param manual From {@linkcode parseQgaManual}.
 * @returns The counts.
 */
export function countQgaManual(manual: QgaManual): QgaCounts {
  const docs = manual.definitions.flatMap((d) =>
    d.kind === "command" ? d.arguments : d.kind === "enum" ? d.values : d.members
  ).map((m) => m.doc);
  return {
    commands: manual.definitions.filter((d) => d.kind === "command").length,
    types: manual.definitions.filter((d) => d.kind !== "command").length,
    members: docs.length,
    documented: docs.filter((doc) => doc !== NOT_DOCUMENTED && doc !== "").length,
  };
}

/**
 * Turns a parsed manual into the TypeScript module, deterministically.
 *
 * @param manual From {@linkcode parseQgaManual}.
 * @returns The module's text, formatted by `deno fmt`.
 * @throws {TypeError} When a generated name would clash with a type of the manual.
 */
export function generateQgaModule(manual: QgaManual): Promise<string> {
  const commands = manual.definitions.filter((d): d is QgaCommand => d.kind === "command");
  const sorted = [...commands].sort((a, b) => a.name < b.name ? -1 : 1);
  const taken = new Set(manual.definitions.map((d) => d.name));
  const argumentsName = new Map<string, string>();
  for (const command of commands) {
    if (command.arguments.length === 0) continue;
    const name = `${pascal(command.name)}Arguments`;
    if (taken.has(name)) {
      throw new TypeError(`Cannot generate QGA types: "${name}" is taken by the manual`);
    }
    taken.add(name);
    argumentsName.set(command.name, name);
  }

  const out: string[] = [];
  for (const definition of manual.definitions) {
    const name = definition.name;
    if (definition.kind === "command") {
      const args = argumentsName.get(name);
      if (args === undefined) continue;
      out.push(
        `/** The arguments of {@linkcode QgaCommands} \`${JSON.stringify(name)}\`. */\n` +
          `export interface ${args} {\n${fields(definition.arguments)}}\n`,
      );
    } else if (definition.kind === "enum") {
      const doc = definitionDoc(definition, [
        bulletList(
          definition.values.map((v) => ({ label: `\`${JSON.stringify(v.name)}\``, doc: v.doc })),
        ),
      ]);
      out.push(
        `${jsdoc(doc)}export type ${name} =\n${
          definition.values.map((v) => `  | ${JSON.stringify(v.name)}`).join("\n")
        };\n`,
      );
    } else if (definition.kind === "alternate") {
      const doc = definitionDoc(definition, [
        "Any one of:",
        bulletList(
          definition.members.map((m) => ({ label: `\`${ts(m.type)}\` (${m.name})`, doc: m.doc })),
        ),
      ]);
      out.push(
        `${jsdoc(doc)}export type ${name} =\n${
          definition.members.map((m) => `  | ${ts(m.type)}`).join("\n")
        };\n`,
      );
    } else if (definition.tag === undefined) {
      out.push(
        `${jsdoc(definitionDoc(definition))}export interface ${name} {\n${
          fields(definition.members)
        }}\n`,
      );
    } else {
      const tag = definition.members.find((m) => m.name === definition.tag)!;
      const tagType = manual.definitions.find((d) => d.name === tag.type.name) as QgaEnum;
      const branch = new Map(definition.branches.map((b) => [b.value, b.type]));
      const common = definition.members.filter((m) => m !== tag);
      const tagDoc = tag.doc === NOT_DOCUMENTED ? "" : ` (${tag.doc})`;
      const doc = definitionDoc(definition, [
        `A union on \`${tag.name}\`${tagDoc}: its value selects the members added.`,
      ]);
      const cases = tagType.values.map(({ name: value }) => {
        const literal = `{ ${key(tag.name)}: ${JSON.stringify(value)} }`;
        const type = branch.get(value);
        return type === undefined ? `  | ${literal}` : `  | (${literal} & ${type})`;
      });
      if (common.length === 0) {
        out.push(`${jsdoc(doc)}export type ${name} =\n${cases.join("\n")};\n`);
      } else {
        out.push(
          `/** The members of every {@linkcode ${name}}. */\nexport interface ${name}Base {\n${
            fields(common)
          }}\n`,
          `${jsdoc(doc)}export type ${name} =\n  & ${name}Base\n  & (\n${
            cases.map((line) => `  ${line}`).join("\n")
          }\n  );\n`,
        );
      }
    }
  }

  const commandLines = sorted.map((command) => {
    const args = argumentsName.get(command.name) ?? "Record<string, never>";
    const ret = command.returnType === undefined ? "Record<string, never>" : ts(command.returnType);
    const retDoc = command.noReply
      ? "No response on success (see {@linkcode QGA_NO_REPLY_COMMANDS})."
      : command.returns;
    return `${jsdoc(definitionDoc(command), "  ")}  ${
      JSON.stringify(command.name)
    }: {\n    arguments: ${args};\n${
      retDoc === undefined ? "" : jsdoc(retDoc, "    ")
    }    return: ${ret};\n  };\n`;
  }).join("");
  const noReply = sorted.filter((command) => command.noReply).map((c) => c.name);
  const list = (names: string[]) => `[\n${names.map((n) => `  ${JSON.stringify(n)},\n`).join("")}]`;
  const version = manual.version;
  const returning = sorted.filter((c) => c.returnType !== undefined).length;
  return formatTypeScript([
    `// Generated by scripts/gen_qga.ts from qemu-ga-ref(7) of QEMU ${version}; do not edit.\n`,
    `// Regenerate with: deno task gen:qga\n`,
    jsdoc(
      [
        `Types of every command of the QEMU guest agent (qemu-ga) ${version}, and of every type`,
        "of its protocol, generated from its reference manual, qemu-ga-ref(7), with the manual's",
        "own words as documentation.",
        "",
        "From the manual: the commands, their arguments (types, optional or not), every object,",
        "union, alternate and enum with its members, the descriptions, notes and versions, and",
        "the commands that send no response on success. Written by hand (in the generator's",
        "`RETURN_TYPES`, from QEMU's `qga/qapi-schema.json`): the return types, which this",
        "version of the manual gives only as prose; the generator checks them against that",
        `prose, and the tests against the replies of the real qemu-ga. That is the ${returning}`,
        "commands that return something; the others return `{}` (`Record<string, never>`).",
        "",
        "@module",
      ].join("\n"),
    ),
    `/** The QEMU version of the manual these types were generated from. */\nexport const QGA_QEMU_VERSION = ${
      JSON.stringify(version)
    };\n`,
    `${
      jsdoc(
        `Every guest agent command, by name: its arguments and its return value.\n\n${manual.note}`,
      )
    }export interface QgaCommands {\n${commandLines}}\n`,
    `/** The names of every command in {@linkcode QgaCommands}. */\nexport const QGA_COMMAND_NAMES: readonly (keyof QgaCommands)[] = ${
      list(sorted.map((c) => c.name))
    };\n`,
    `/** A command that sends no response when it succeeds. */\nexport type QgaNoReplyCommand =\n${
      noReply.map((name) => `  | ${JSON.stringify(name)}`).join("\n")
    };\n`,
    `/**\n * The commands the manual says send no response when they succeed: their success shows\n * in the VM (it stops, or suspends), and only a failure gets a reply.\n */\nexport const QGA_NO_REPLY_COMMANDS: readonly QgaNoReplyCommand[] = ${
      list(noReply)
    };\n`,
    ...out,
  ].join("\n"));
}

// The generated module is formatted as `deno fmt` would, so the committed file passes
// `deno fmt --check` and regenerating it gives the same bytes.
async function formatTypeScript(text: string): Promise<string> {
  const child = new Deno.Command("deno", {
    args: ["fmt", "--line-width=100", "--ext=ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) {
    throw new Error(`Cannot format the generated QGA types: ${new TextDecoder().decode(stderr)}`);
  }
  return new TextDecoder().decode(stdout);
}

/**
 * Reads the agent's reference manual, uncompressing it.
 *
 * @param path The gzipped roff file.
 * @returns Its text.
 * @throws {Deno.errors.NotFound} When it is missing: install Debian's `qemu-guest-agent`.
 */
export async function readQgaManual(path: string = QGA_MANUAL_PATH): Promise<string> {
  const file = await Deno.open(path);
  const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      manual: { type: "string", default: QGA_MANUAL_PATH },
      out: { type: "string", default: "lib/agent/qga.ts" },
    },
  });
  const manual = parseQgaManual(await readQgaManual(values.manual));
  await Deno.writeTextFile(values.out, await generateQgaModule(manual));
  const counts = countQgaManual(manual);
  console.log(
    `gen:qga: wrote ${values.out} from ${values.manual} (QEMU ${manual.version}): ` +
      `${counts.commands} commands, ${counts.types} types, ${counts.documented} of ` +
      `${counts.members} arguments, members and values documented`,
  );
}
