#!/usr/bin/env -S deno run --allow-run --allow-read --allow-write=lib/qmp,/tmp --allow-net
/**
 * Generates `lib/qmp/qapi.ts`: TypeScript types for every QMP command (arguments and return)
 * and event (data) of the installed QEMU, from its `query-qmp-schema`, documented in QEMU's own
 * words from its QMP reference manual, qemu-qmp-ref(7), as Debian's `qemu-system-common`
 * installs it.
 *
 * QEMU masks the names of schema types (they are numbers), so each type is named after the first
 * place it is met, walking commands, then events, in name order, breadth first:
 * `BlockdevAddArguments`, `BlockdevAddArgumentsQcow2` (a union branch), `QueryBlockReturnItem`
 * (an array element), `QueryStatusReturnStatus` (a field).
 *
 * The manual names those types, so the docs are joined to the schema by what both name: a command
 * or event by its name, its arguments and data members by theirs, then each member's type by the
 * type the manual gives it, and a union's branches by the tag's value, down to every type a
 * command or event reaches. A command's return type is the type its "Returns" text names whose
 * members are the schema type's; where the text names none, the one manual type with exactly
 * those members. See {@linkcode matchQmpManual}.
 *
 * Usage: `deno task gen:qapi [--binary qemu-system-aarch64] [--manual path.7.gz] [--out lib/qmp/qapi.ts]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { probeQemu } from "../lib/vm/probe.ts";
import type { QemuVersion } from "../lib/qmp/client.ts";
import {
  allMembers,
  bulletList,
  formatTypeScript,
  jsdoc,
  type ManualCommand,
  type ManualDefinition,
  type ManualEvent,
  type ManualFormat,
  type ManualMember,
  type ManualObject,
  type ManualTypeRef,
  NOT_DOCUMENTED,
  parseManual,
  readManual,
} from "./_qapi_manual.ts";

/** One entry of `query-qmp-schema` (QAPI's `SchemaInfo`). */
export interface SchemaInfo {
  name: string;
  "meta-type": "builtin" | "enum" | "array" | "object" | "alternate" | "command" | "event";
  features?: string[];
  "json-type"?: string;
  members?: { name?: string; type?: string; default?: null; features?: string[] }[];
  values?: string[];
  "element-type"?: string;
  tag?: string;
  variants?: { case: string; type: string }[];
  "arg-type"?: string;
  "ret-type"?: string;
  "allow-oob"?: boolean;
}

/** Where the schema came from, written into the generated file's header. */
export interface SchemaSource {
  binary: string;
  version: QemuVersion;
}

/** Where Debian's `qemu-system-common` installs the QMP reference manual. */
export const QMP_MANUAL_PATH = "/usr/share/man/man7/qemu-qmp-ref.7.gz";

/** What qemu-qmp-ref(7) holds. */
const QMP_FORMAT: ManualFormat = {
  title: "qemu-qmp-ref(7)",
  kinds: ["command", "event", "enum", "object", "alternate"],
  extraSections: ["Features", "Example", "Examples", "TODO"],
};

/** The parsed QMP reference manual. */
export interface QmpManual {
  /** The QEMU version of the manual (its `.TH` line), such as `"7.2.22"`. */
  version: string;
  /** Every command, event and type, in the manual's order. */
  definitions: ManualDefinition[];
}

/**
 * Parses the QMP reference manual.
 *
 * @param roff The manual's text (qemu-qmp-ref(7), uncompressed).
 * @returns Its commands, events and types.
 * @throws {TypeError} When the manual has something the parser does not know (a new kind of
 * section, term, roff request or escape) or names a type it does not define.
 */
export function parseQmpManual(roff: string): QmpManual {
  const manual = parseManual(roff, QMP_FORMAT);
  return {
    version: manual.version,
    definitions: manual.sections.flatMap((section) => section.definitions),
  };
}

/**
 * Reads the QMP reference manual, uncompressing it.
 *
 * @param path The gzipped roff file.
 * @returns Its text.
 * @throws {Deno.errors.NotFound} When it is missing: install Debian's `qemu-system-common`.
 */
export function readQmpManual(path: string = QMP_MANUAL_PATH): Promise<string> {
  return readManual(path);
}

/** The manual's docs joined to the schema's (masked) types; see {@linkcode matchQmpManual}. */
export interface QmpManualMatch {
  /** The manual's type for a schema type. */
  types: Map<string, ManualDefinition>;
  /** For a schema object: the manual's member for each of its members found there. */
  members: Map<string, Map<string, ManualMember>>;
  /** For a schema alternate: the manual's branch for each of its branches, in the schema's order. */
  branches: Map<string, (ManualMember | undefined)[]>;
  /** For a schema object: the command or event whose arguments or data it is. */
  owners: Map<string, ManualCommand | ManualEvent>;
  /** Schema types the manual's names and members do not agree with, and why. */
  disagreements: string[];
}

// Commands QEMU declares with `'gen': false` that take more than their schema lists: device_add
// also takes every property of the device it adds, which no schema can enumerate.
const OPEN_ARGUMENTS = new Set(["device_add"]);

const JSON_TYPES: Record<string, string> = {
  string: "string",
  int: "number",
  number: "number",
  boolean: "boolean",
  null: "null",
  value: "unknown",
};

// The manual's name of each of the schema's built-in JSON types.
const BUILTIN_NAMES: Record<string, string> = {
  string: "string",
  int: "int",
  number: "number",
  boolean: "boolean",
  null: "null",
  value: "any",
};

function lookupIn(byName: Map<string, SchemaInfo>, type: string): SchemaInfo {
  const info = byName.get(type);
  if (info === undefined) throw new TypeError(`Cannot generate QAPI types: no type "${type}"`);
  return info;
}

function enumValues(info: SchemaInfo): string[] {
  return info.values ?? (info.members ?? []).map((m) => m.name!);
}

/**
 * Joins the manual's docs to the schema: commands and events by name, then, from their arguments,
 * data and union branches, each schema type to the manual type the manual gives that member or
 * branch (by member name and tag value); then each command's return to the type its "Returns"
 * text names (among those whose members the schema type has); then any type still unjoined to the
 * one manual type of its kind with exactly its members or values.
 *
 * @param schema The `query-qmp-schema` reply.
 * @param manual From {@linkcode parseQmpManual}.
 * @returns The joins, and where the manual and the schema disagree.
 */
export function matchQmpManual(schema: SchemaInfo[], manual: QmpManual): QmpManualMatch {
  const byName = new Map(schema.map((info) => [info.name, info]));
  const lookup = (type: string) => lookupIn(byName, type);
  const named = new Map<string, ManualDefinition>(
    manual.definitions.filter((d) => d.kind !== "command" && d.kind !== "event")
      .map((d) => [d.name, d]),
  );
  const commands = new Map(
    manual.definitions.filter((d): d is ManualCommand => d.kind === "command")
      .map((d) => [d.name, d]),
  );
  const events = new Map(
    manual.definitions.filter((d): d is ManualEvent => d.kind === "event")
      .map((d) => [d.name, d]),
  );
  const match: QmpManualMatch = {
    types: new Map(),
    members: new Map(),
    branches: new Map(),
    owners: new Map(),
    disagreements: [],
  };
  const disagree = (type: string, reason: string): void => {
    match.disagreements.push(`schema type ${type}: ${reason}`);
  };
  const branchesOf = (definition: ManualObject | ManualCommand | ManualEvent) => {
    const all: { value: string; type: string }[] = [];
    const walk = (d: ManualObject | ManualCommand | ManualEvent) => {
      if (d.kind === "object") all.push(...d.branches);
      for (const base of d.bases ?? []) {
        const b = named.get(base);
        if (b?.kind === "object") walk(b);
      }
    };
    walk(definition);
    return all;
  };

  const pairRef = (type: string, ref: ManualTypeRef, where: string): void => {
    const info = lookup(type);
    if (info["meta-type"] === "builtin") return;
    if (info["meta-type"] === "array") {
      if (!ref.array) return disagree(type, `a list, where the manual has ${where}: ${ref.name}`);
      return pairRef(info["element-type"]!, { name: ref.name, array: false }, where);
    }
    if (ref.array) return disagree(type, `no list, where the manual has ${where}: ${ref.name}[]`);
    const definition = named.get(ref.name);
    if (definition === undefined) {
      return disagree(type, `a ${info["meta-type"]}, where the manual has ${where}: ${ref.name}`);
    }
    pairType(type, definition);
  };
  const pairMembers = (type: string, owner: ManualObject | ManualCommand | ManualEvent) => {
    const info = lookup(type);
    const manualMembers = allMembers(owner, named);
    const docs = new Map<string, ManualMember>();
    match.members.set(type, docs);
    for (const member of info.members ?? []) {
      const found = manualMembers.find((m) => m.name === member.name);
      if (found === undefined) continue;
      docs.set(member.name!, found);
      pairRef(member.type!, found.type, `"${owner.name}" member "${member.name}"`);
    }
    const branches = branchesOf(owner);
    for (const variant of info.variants ?? []) {
      const branch = branches.find((b) => b.value === variant.case);
      if (branch !== undefined) pairType(variant.type, named.get(branch.type)!);
    }
  };
  const pairType = (type: string, definition: ManualDefinition): void => {
    const info = lookup(type);
    const known = match.types.get(type);
    if (known !== undefined) {
      if (known !== definition) {
        disagree(type, `met as both ${known.name} and ${definition.name}`);
      }
      return;
    }
    const meta = info["meta-type"];
    if (meta === "array") return disagree(type, `a list, where the manual has ${definition.name}`);
    if (meta !== definition.kind) {
      return disagree(
        type,
        `a ${meta}, where the manual has the ${definition.kind} ${definition.name}`,
      );
    }
    if (match.members.has(type)) {
      return disagree(type, `the arguments or data of a command or event, and ${definition.name}`);
    }
    match.types.set(type, definition);
    if (definition.kind === "object") pairMembers(type, definition);
    if (definition.kind === "alternate") {
      // By the kind of each branch's type: the manual's order is not always the schema's.
      const left = [...definition.members];
      const branches = (info.members ?? []).map((member) => {
        const branch = lookup(member.type!);
        const meta = branch["meta-type"];
        const builtin = meta === "builtin" ? BUILTIN_NAMES[branch["json-type"]!] : undefined;
        const found = left.find((m) =>
          meta === "array"
            ? m.type.array
            : !m.type.array && (builtin !== undefined
              ? m.type.name === builtin
              : named.get(m.type.name)?.kind === meta)
        );
        if (found === undefined) {
          disagree(type, `a branch of ${definition.name} the manual does not have: ${meta}`);
          return undefined;
        }
        left.splice(left.indexOf(found), 1);
        pairRef(member.type!, found.type, `"${definition.name}" branch "${found.name}"`);
        return found;
      });
      match.branches.set(type, branches);
    }
  };
  // A command's arguments or an event's data: the members of one type, or its own.
  const pairOwner = (type: string, owner: ManualCommand | ManualEvent) => {
    if (owner.arguments.length === 0 && owner.bases?.length === 1) {
      return pairType(type, named.get(owner.bases[0])!);
    }
    // A command whose arguments are the members of a type its manual entry does not name (QAPI's
    // `'data': 'BlockDirtyBitmap'`): that type is found by other paths or by its members.
    if (owner.arguments.length === 0 && owner.bases === undefined) return;
    if (match.types.has(type) || match.owners.has(type)) {
      return disagree(type, `the arguments or data of both ${owner.name} and another`);
    }
    match.owners.set(type, owner);
    pairMembers(type, owner);
  };

  const schemaCommands = schema.filter((i) => i["meta-type"] === "command")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const schemaEvents = schema.filter((i) => i["meta-type"] === "event")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const isEmpty = (type: string) => {
    const info = lookup(type);
    return info["meta-type"] === "object" && (info.members ?? []).length === 0 &&
      (info.variants ?? []).length === 0;
  };
  for (const command of schemaCommands) {
    const definition = commands.get(command.name);
    const args = command["arg-type"];
    if (definition !== undefined && args !== undefined && !isEmpty(args)) {
      pairOwner(args, definition);
    }
  }
  for (const event of schemaEvents) {
    const definition = events.get(event.name);
    const data = event["arg-type"];
    if (definition !== undefined && data !== undefined && !isEmpty(data)) {
      pairOwner(data, definition);
    }
  }

  // Whether a manual type can be a schema type: the same kind, the schema's members or values
  // all in the manual's (exactly them, when `exact`), and for a union the same tag and branches.
  const fits = (type: string, definition: ManualDefinition, exact: boolean): boolean => {
    const info = lookup(type);
    if (info["meta-type"] !== definition.kind) return false;
    const have = definition.kind === "enum"
      ? definition.values.map((v) => v.name)
      : definition.kind === "object"
      ? allMembers(definition, named).map((m) => m.name)
      : undefined;
    if (have === undefined) return false;
    const want = info["meta-type"] === "enum"
      ? enumValues(info)
      : (info.members ?? []).map((m) => m.name!);
    if (want.length === 0 || want.some((name) => !have.includes(name))) return false;
    if (exact && have.length !== want.length) return false;
    // A union's tag and branches too.
    const variants = (info.variants ?? []).filter((v) => !isEmpty(v.type));
    if (variants.length === 0) return true;
    if (definition.kind !== "object" || definition.tag !== info.tag) return false;
    const values = branchesOf(definition).map((b) => b.value);
    return variants.every((v) => values.includes(v.case));
  };
  const element = (type: string): string => {
    const info = lookup(type);
    return info["meta-type"] === "array" ? element(info["element-type"]!) : type;
  };
  const unique = (type: string): ManualDefinition | undefined => {
    const candidates = [...named.values()].filter((d) => fits(type, d, true));
    return candidates.length === 1 ? candidates[0] : undefined;
  };
  for (const command of schemaCommands) {
    const ret = command["ret-type"];
    const definition = commands.get(command.name);
    if (ret === undefined || definition === undefined) continue;
    const type = element(ret);
    const meta = lookup(type)["meta-type"];
    if (meta === "builtin" || isEmpty(type) || match.types.has(type)) continue;
    const text = definition.returns ?? "";
    const mentioned = [...named.keys()].filter((name) =>
      new RegExp(`(^|[^\\w-])${name}($|[^\\w-])`).test(text)
    );
    const found = mentioned.map((name) => named.get(name)!).find((d) => fits(type, d, false)) ??
      unique(type);
    if (found !== undefined) pairType(type, found);
  }
  // Anything a command or event reaches that is still unjoined: by its members alone.
  for (let changed = true; changed;) {
    changed = false;
    for (const info of schema) {
      const meta = info["meta-type"];
      if (meta !== "object" && meta !== "enum") continue;
      if (match.types.has(info.name) || match.owners.has(info.name) || isEmpty(info.name)) {
        continue;
      }
      const found = unique(info.name);
      if (found === undefined) continue;
      pairType(info.name, found);
      changed = true;
    }
  }
  return match;
}

/** How much of the generated module has QEMU's docs. */
export interface QapiDocCounts {
  /** Commands. */
  commands: number;
  /** Of `commands`, those the manual describes. */
  commandsDocumented: number;
  /** Events. */
  events: number;
  /** Of `events`, those the manual describes. */
  eventsDocumented: number;
  /**
   * Members of every generated type: arguments, return fields, event data, union tags, enum
   * values and alternate branches (each type counted once, however many commands share it).
   */
  members: number;
  /** Of `members`, those the manual has. */
  membersFound: number;
  /** Of `membersFound`, those it describes (more than "Not documented"). */
  membersDocumented: number;
}

/** Options of {@linkcode generateQapiModule}. */
export interface GenerateQapiOptions {
  /** The QMP reference manual of the same QEMU, whose words become the types' JSDoc. */
  manual?: QmpManual;
}

const described = (doc: string | undefined): doc is string =>
  doc !== undefined && doc !== "" && doc !== NOT_DOCUMENTED;

function pascal(text: string): string {
  const name = text.split(/[^A-Za-z0-9]+/).filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1)).join("");
  return /^[0-9]/.test(name) ? `T${name}` : name;
}

function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

// The description of a manual definition, then its features, build condition, version and
// examples, with the schema's features.
function definitionDoc(
  definition: ManualDefinition | undefined,
  parts: string[],
  features: string[] | undefined,
): string {
  const out = [definition?.doc ?? "", ...parts].filter((p) => p !== "");
  if (out.length === 0 && definition !== undefined) out.push("No description in qemu-qmp-ref(7).");
  if (definition?.features !== undefined) {
    out.push(
      `Features:\n${
        bulletList(definition.features.map((f) => ({ label: `\`${f.name}\``, doc: f.doc })))
      }`,
    );
  }
  if (definition?.condition !== undefined) out.push(`If: ${definition.condition}`);
  if (features?.includes("unstable")) out.push("Unstable: QEMU may change or drop it.");
  if (features?.includes("deprecated")) out.push("@deprecated QEMU marks this deprecated.");
  if (definition?.since !== undefined) out.push(`@since ${definition.since}`);
  for (const example of definition?.examples ?? []) out.push(`@example\n${example}`);
  return out.join("\n\n");
}

function memberDoc(member: ManualMember | undefined, features: string[] | undefined): string {
  const parts: string[] = [];
  if (described(member?.doc)) parts.push(member.doc);
  if (member?.condition !== undefined) parts.push(`If: ${member.condition}`);
  if (features?.includes("unstable")) parts.push("Unstable: QEMU may change or drop it.");
  if (features?.includes("deprecated")) parts.push("@deprecated QEMU marks this deprecated.");
  // The manual lists it and says nothing more: say so, rather than leave it bare.
  if (parts.length === 0 && member !== undefined) parts.push("Not documented in qemu-qmp-ref(7).");
  return parts.join("\n\n");
}

// The module's text, unformatted, and how much of it has docs.
function buildQapiModule(
  schema: SchemaInfo[],
  source: SchemaSource,
  manual: QmpManual | undefined,
): { text: string; counts: QapiDocCounts } {
  const byName = new Map(schema.map((info) => [info.name, info]));
  const commands = schema.filter((i) => i["meta-type"] === "command")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const events = schema.filter((i) => i["meta-type"] === "event")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const empty: QmpManualMatch = {
    types: new Map(),
    members: new Map(),
    branches: new Map(),
    owners: new Map(),
    disagreements: [],
  };
  const matched = manual === undefined ? empty : matchQmpManual(schema, manual);
  const manualDefinition = (kind: "command" | "event", name: string) =>
    manual?.definitions.find((d) => d.kind === kind && d.name === name);
  const counts: QapiDocCounts = {
    commands: commands.length,
    commandsDocumented: 0,
    events: events.length,
    eventsDocumented: 0,
    members: 0,
    membersFound: 0,
    membersDocumented: 0,
  };
  const countMember = (doc: string | undefined) => {
    counts.members++;
    if (doc !== undefined) counts.membersFound++;
    if (described(doc)) counts.membersDocumented++;
  };

  const names = new Map<string, string>();
  const used = new Set<string>();
  const queue: string[] = [];

  const lookup = (type: string) => lookupIn(byName, type);
  const isEmptyObject = (info: SchemaInfo) =>
    info["meta-type"] === "object" && (info.members ?? []).length === 0 &&
    (info.variants ?? []).length === 0;
  // Names a type (and queues it) the first time it is met.
  const visit = (type: string, suggested: string): void => {
    const info = lookup(type);
    const meta = info["meta-type"];
    if (meta === "builtin" || isEmptyObject(info)) return;
    if (meta === "array") return visit(info["element-type"]!, `${suggested}Item`);
    if (names.has(type)) return;
    let name = suggested;
    for (let n = 2; used.has(name); n++) name = `${suggested}${n}`;
    used.add(name);
    names.set(type, name);
    queue.push(type);
  };
  const ref = (type: string): string => {
    const info = lookup(type);
    const meta = info["meta-type"];
    if (meta === "builtin") return JSON_TYPES[info["json-type"]!] ?? "unknown";
    if (meta === "array") {
      const element = ref(info["element-type"]!);
      return /^[A-Za-z0-9_]+$/.test(element) ? `${element}[]` : `(${element})[]`;
    }
    if (isEmptyObject(info)) return "Record<string, never>";
    return names.get(type)!;
  };

  for (const command of commands) {
    if (command["arg-type"]) visit(command["arg-type"], `${pascal(command.name)}Arguments`);
    if (command["ret-type"]) visit(command["ret-type"], `${pascal(command.name)}Return`);
  }
  for (const event of events) {
    if (event["arg-type"]) visit(event["arg-type"], `${pascal(event.name.toLowerCase())}Data`);
  }

  // What a type is, in the manual's name: "QAPI object `StatusInfo`", or whose arguments it is.
  const typeDoc = (type: string, what: string, parts: string[] = []): string => {
    const definition = matched.types.get(type);
    const owner = matched.owners.get(type);
    if (owner !== undefined) {
      const list = owner.kind === "command" ? "QmpCommands" : "QmpEvents";
      const of = owner.kind === "command" ? "arguments" : "data";
      return [`The ${of} of {@linkcode ${list}} \`${JSON.stringify(owner.name)}\`.`, ...parts]
        .join("\n\n");
    }
    const label = definition === undefined ? `${what}.` : `${what} \`${definition.name}\`.`;
    return definitionDoc(definition, [label, ...parts], undefined);
  };
  const out: string[] = [];
  // Breadth first: the queue grows while types are written.
  for (let i = 0; i < queue.length; i++) {
    const info = lookup(queue[i]);
    const name = names.get(info.name)!;
    const meta = info["meta-type"];
    const definition = matched.types.get(info.name);
    if (meta === "enum") {
      const values = enumValues(info);
      const docs = definition?.kind === "enum"
        ? new Map(definition.values.map((v) => [v.name, v]))
        : new Map<string, { doc: string; condition?: string }>();
      for (const value of values) countMember(docs.get(value)?.doc);
      const items = values.map((value) => {
        const found = docs.get(value);
        const doc = [found?.doc, found?.condition && `If: ${found.condition}`]
          .filter(described).join(" ");
        return { label: `\`${JSON.stringify(value)}\``, doc };
      }).filter((item) => item.doc !== "");
      out.push(
        `${jsdoc(typeDoc(info.name, "QAPI enum", items.length ? [bulletList(items)] : []))}` +
          `export type ${name} =\n${values.map((v) => `  | ${JSON.stringify(v)}`).join("\n")};\n`,
      );
    } else if (meta === "alternate") {
      const members = info.members ?? [];
      members.forEach((member, index) => visit(member.type!, `${name}Branch${index + 1}`));
      const branches = matched.branches.get(info.name) ?? [];
      for (let b = 0; b < members.length; b++) countMember(branches[b]?.doc);
      const items = members.map((m, b) => ({
        label: `\`${ref(m.type!)}\`${branches[b] ? ` (${branches[b].name})` : ""}`,
        doc: described(branches[b]?.doc) ? branches[b].doc : "",
      })).filter((item) => item.doc !== "");
      out.push(
        `${
          jsdoc(
            typeDoc(
              info.name,
              "QAPI alternate: any one of these",
              items.length ? [bulletList(items)] : [],
            ),
          )
        }export type ${name} =\n${members.map((m) => `  | ${ref(m.type!)}`).join("\n")};\n`,
      );
    } else if (meta === "object") {
      const members = info.members ?? [];
      for (const member of members) visit(member.type!, `${name}${pascal(member.name!)}`);
      const variants = info.variants ?? [];
      for (const variant of variants) visit(variant.type, `${name}${pascal(variant.case)}`);
      const docs = matched.members.get(info.name) ?? new Map<string, ManualMember>();
      for (const member of members) countMember(docs.get(member.name!)?.doc);
      const fields = members.filter((m) => variants.length === 0 || m.name !== info.tag)
        .map((m) => {
          const doc = memberDoc(docs.get(m.name!), m.features);
          return `${doc === "" ? "" : jsdoc(doc, "  ")}  ${key(m.name!)}${
            "default" in m ? "?" : ""
          }: ${ref(m.type!)};\n`;
        }).join("");
      if (variants.length === 0) {
        out.push(
          `${jsdoc(typeDoc(info.name, "QAPI object"))}export interface ${name} {\n${fields}}\n`,
        );
      } else {
        const tag = members.find((m) => m.name === info.tag)!;
        const tagInfo = lookup(tag.type!);
        const cases = enumValues(tagInfo);
        const branch = new Map(variants.map((v) => [v.case, v.type]));
        const tagKey = key(info.tag!);
        const lines = cases.map((c) => {
          const type = branch.get(c);
          const literal = `{ ${tagKey}: ${JSON.stringify(c)} }`;
          return type === undefined || isEmptyObject(lookup(type))
            ? `  | ${literal}`
            : `  | (${literal} & ${ref(type)})`;
        });
        const tagDoc = docs.get(info.tag!)?.doc;
        const on = `A union on \`${info.tag}\`${
          described(tagDoc) ? ` (${tagDoc})` : ""
        }: its value selects the members added.`;
        const union = `${jsdoc(typeDoc(info.name, "QAPI union", [on]))}export type ${name} =`;
        if (fields === "") {
          out.push(`${union}\n${lines.join("\n")};\n`);
        } else {
          out.push(
            `/** The members of every {@linkcode ${name}}. */\nexport interface ${name}Base {\n${fields}}\n`,
            `${union}\n  & ${name}Base\n  & (\n${
              lines.map((line) => `  ${line}`).join("\n")
            }\n  );\n`,
          );
        }
      }
    }
  }

  const commandLines = commands.map((command) => {
    let args = command["arg-type"] ? ref(command["arg-type"]) : "Record<string, never>";
    if (OPEN_ARGUMENTS.has(command.name)) args += " & Record<string, unknown>";
    const ret = command["ret-type"] ? ref(command["ret-type"]) : "Record<string, never>";
    const definition = manualDefinition("command", command.name) as ManualCommand | undefined;
    if (definition !== undefined) counts.commandsDocumented++;
    const doc = definitionDoc(definition, [], command.features);
    const returns = definition?.returns;
    const entry = returns === undefined
      ? `{ arguments: ${args}; return: ${ret} }`
      : `{\n    arguments: ${args};\n${
        jsdoc(`Returns: ${returns}`, "    ")
      }    return: ${ret};\n  }`;
    return `${doc === "" ? "" : jsdoc(doc, "  ")}  ${JSON.stringify(command.name)}: ${entry};\n`;
  }).join("");
  const eventLines = events.map((event) => {
    const definition = manualDefinition("event", event.name);
    if (definition !== undefined) counts.eventsDocumented++;
    const doc = definitionDoc(definition, [], event.features);
    return `${doc === "" ? "" : jsdoc(doc, "  ")}  ${key(event.name)}: ${
      event["arg-type"] ? ref(event["arg-type"]) : "Record<string, never>"
    };\n`;
  }).join("");
  const { major, minor, micro } = source.version;
  const short = `${major}.${minor}.${micro}`;
  const version = `${short}${source.version.package ? ` (${source.version.package})` : ""}`;
  const list = (items: SchemaInfo[]) =>
    `[\n${items.map((item) => `  ${JSON.stringify(item.name)},\n`).join("")}]`;
  const percent = (part: number, whole: number) => `${(100 * part / whole).toFixed(1)}%`;
  const docsLine = manual === undefined
    ? "without QEMU's docs (no manual was given)."
    : `documented from qemu-qmp-ref(7) of QEMU ${manual.version}.`;
  const about = manual === undefined ? [] : [
    "",
    "The JSDoc is QEMU's own words, from its QMP reference manual, qemu-qmp-ref(7) (Debian's",
    "`qemu-system-common` installs it as `/usr/share/man/man7/qemu-qmp-ref.7.gz`): the",
    "descriptions, notes, features, build conditions, versions (`@since`) and examples of the",
    "commands, events, types and members. The schema masks type names, so the docs are joined",
    "by command, event and member names and the types the manual gives members.",
    "",
    `Documented: ${counts.commandsDocumented} of ${counts.commands} commands, ` +
    `${counts.eventsDocumented} of ${counts.events} events, and ${counts.membersFound} of ` +
    `${counts.members} members (${percent(counts.membersFound, counts.members)}: arguments,`,
    "return fields, event data, union tags, enum values, alternate branches), of which the",
    `manual describes ${counts.membersDocumented} (${
      percent(counts.membersDocumented, counts.members)
    }; it says "Not documented" of the others).`,
  ];
  const text = [
    `// Generated by scripts/gen_qapi.ts from ${source.binary} ${version}${
      manual === undefined ? "" : ` and qemu-qmp-ref(7)`
    }; do not edit.\n`,
    `// Regenerate with: deno task gen:qapi --binary ${source.binary}\n`,
    jsdoc(
      [
        `QMP types of every command and event of QEMU ${short}, from its QAPI schema`,
        `(\`query-qmp-schema\`), ${docsLine}`,
        ...about,
        "",
        "@module",
      ].join("\n"),
    ),
    `/** The QEMU version these types were generated from. */\nexport const QAPI_QEMU_VERSION = ${
      JSON.stringify(short)
    };\n`,
    `/** Every QMP command, by name: its arguments and its return value. */\nexport interface QmpCommands {\n${commandLines}}\n`,
    `/** Every QMP event, by name: its \`data\`. */\nexport interface QmpEvents {\n${eventLines}}\n`,
    `/** The names of every command in {@linkcode QmpCommands}. */\nexport const QMP_COMMAND_NAMES: readonly (keyof QmpCommands)[] = ${
      list(commands)
    };\n`,
    `/** The names of every event in {@linkcode QmpEvents}. */\nexport const QMP_EVENT_NAMES: readonly (keyof QmpEvents)[] = ${
      list(events)
    };\n`,
    ...out,
  ].join("\n");
  return { text, counts };
}

/**
 * Turns a QAPI schema into the TypeScript module, deterministically.
 *
 * @param schema The `query-qmp-schema` reply.
 * @param source The binary and its version, for the header.
 * @param options The manual whose words document the types.
 * @returns The module's text, formatted by `deno fmt`.
 * @throws {TypeError} When the manual is of another QEMU version than the schema (the promise
 * rejects with it).
 */
export async function generateQapiModule(
  schema: SchemaInfo[],
  source: SchemaSource,
  options: GenerateQapiOptions = {},
): Promise<string> {
  checkVersions(source, options.manual);
  return await formatTypeScript(buildQapiModule(schema, source, options.manual).text, "QAPI");
}

/**
 * Counts what {@linkcode generateQapiModule} documents from the manual.
 *
 * @param schema The `query-qmp-schema` reply.
 * @param manual From {@linkcode parseQmpManual}.
 * @returns The counts.
 */
export function countQapiDocs(schema: SchemaInfo[], manual: QmpManual): QapiDocCounts {
  const version = { major: 0, minor: 0, micro: 0, package: "" };
  return buildQapiModule(schema, { binary: "", version }, manual).counts;
}

function checkVersions(source: SchemaSource, manual: QmpManual | undefined): void {
  const { major, minor, micro } = source.version;
  if (manual === undefined || manual.version === `${major}.${minor}.${micro}`) return;
  throw new TypeError(
    `Cannot document the QAPI types of ${source.binary} ${major}.${minor}.${micro} with ` +
      `qemu-qmp-ref(7) of QEMU ${manual.version}: install the manual of the same QEMU, or pass ` +
      "--manual with it",
  );
}

/**
 * Reads the QAPI schema of a QEMU binary.
 *
 * @param binary Such as `"qemu-system-x86_64"`.
 * @returns The schema and the QEMU version.
 */
export async function readQapiSchema(
  binary: string,
): Promise<{ schema: SchemaInfo[]; version: QemuVersion }> {
  await using probe = await probeQemu(binary);
  const schema = await probe.qmp.execute("query-qmp-schema", undefined, { timeout: 10_000 });
  return { schema: schema as SchemaInfo[], version: probe.qmp.version };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      binary: { type: "string", default: "qemu-system-x86_64" },
      manual: { type: "string", default: QMP_MANUAL_PATH },
      out: { type: "string", default: new URL("../lib/qmp/qapi.ts", import.meta.url).pathname },
    },
  });
  const { schema, version } = await readQapiSchema(values.binary);
  const manual = parseQmpManual(await readQmpManual(values.manual));
  const text = await generateQapiModule(schema, { binary: values.binary, version }, { manual });
  await Deno.writeTextFile(values.out, text);
  const count = (meta: string) => schema.filter((i) => i["meta-type"] === meta).length;
  const docs = countQapiDocs(schema, manual);
  const { disagreements } = matchQmpManual(schema, manual);
  console.log(
    `gen:qapi: wrote ${values.out}: ${count("command")} commands, ${
      count("event")
    } events from ${values.binary} ${version.major}.${version.minor}.${version.micro}; docs ` +
      `from ${values.manual}: ${docs.commandsDocumented}/${docs.commands} commands, ` +
      `${docs.eventsDocumented}/${docs.events} events, ${docs.membersFound}/${docs.members} ` +
      `members (${docs.membersDocumented} described)`,
  );
  for (const line of disagreements) console.log(`gen:qapi: the manual disagrees: ${line}`);
}
