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
 * The roff reading is `_qapi_manual.ts`, which `gen_qapi.ts` shares for qemu-qmp-ref(7).
 *
 * Usage: `deno task gen:qga [--manual /usr/share/man/man7/qemu-ga-ref.7.gz] [--out lib/agent/qga.ts]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BUILTIN_TYPES,
  bulletList,
  formatTypeScript,
  jsdoc,
  type ManualAlternate,
  type ManualCommand,
  type ManualDefinitionBase,
  type ManualEnum,
  type ManualFormat,
  type ManualMember,
  type ManualObject,
  ManualReader,
  type ManualTypeRef,
  NOT_DOCUMENTED,
  parseManual,
  readManual,
} from "./_qapi_manual.ts";

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
export type QgaTypeRef = ManualTypeRef;

/** An argument of a command, a member of an object or a branch of an alternate. */
export type QgaMember = ManualMember;

/** What every definition of the manual has. */
export type QgaDefinitionBase = ManualDefinitionBase;

/** A command of the agent. */
export interface QgaCommand extends ManualCommand {
  /** What the command returns, or `undefined` for nothing (`{}`). */
  returnType?: QgaTypeRef;
  /** `true` when the manual says the command sends no response on success. */
  noReply: boolean;
}

/** An enumeration: a string that is one of `values`. */
export type QgaEnum = ManualEnum;

/** An object; a union when it has `branches`. */
export type QgaObject = ManualObject;

/** An alternate: a value of any one of its members' types. */
export type QgaAlternate = ManualAlternate;

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

/** What qemu-ga-ref(7) holds: no events, and no examples, features or TODOs. */
const QGA_FORMAT: ManualFormat = {
  title: "qemu-ga-ref(7)",
  kinds: ["command", "enum", "object", "alternate"],
  extraSections: [],
};

const reader = new ManualReader(QGA_FORMAT.title);
function fail(reason: string): never {
  return reader.fail(reason);
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
  const parsed = parseManual(roff, QGA_FORMAT);
  const noteSection = parsed.sections.findIndex((s) => /^GENERAL NOTE/.test(s.title));
  const protocol = parsed.sections.findIndex((s) => /^QEMU GUEST AGENT PROTOCOL/.test(s.title));
  if (noteSection < 0 || protocol !== noteSection + 1) {
    fail("its sections are not the expected ones");
  }
  const { intro, definitions: parsedDefinitions } = parsed.sections[protocol];
  if (intro.length > 0) fail(`text before the first definition: "${intro[0]}"`);
  const elsewhere = parsed.sections.find((s, i) => i !== protocol && s.definitions.length > 0);
  if (elsewhere !== undefined) fail(`the section "${elsewhere.title}" has definitions`);
  const note = reader.prose(parsed.sections[noteSection].intro);

  const definitions = parsedDefinitions.map((definition): QgaDefinition => {
    if (definition.kind === "event") fail(`"${definition.name}" is an event`);
    if (definition.kind !== "alternate" && definition.kind !== "enum") {
      const base = definition.bases?.[0];
      if (base !== undefined) {
        fail(`"${definition.name}" has the members of "${base}", which gen:qga does not handle`);
      }
    }
    if (definition.kind !== "command") return definition;
    return { ...definition, noReply: /does NOT return a response on success/.test(definition.doc) };
  });

  // The hand-written returns agree with the prose.
  const types = new Map(
    definitions.filter((d) => d.kind !== "command").map((d) => [d.name, d]),
  );
  const commandNames = new Set<string>();
  for (const definition of definitions) {
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
    const where = `RETURN_TYPES["${definition.name}"]`;
    const ref = reader.typeRef(hand, where);
    if (!(ref.name in BUILTIN_TYPES) && !types.has(ref.name)) {
      fail(`${where} has the type "${ref.name}", which the manual does not define`);
    }
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
  return { version: parsed.version, note, definitions };
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
  return formatTypeScript(
    [
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
    ].join("\n"),
    "QGA",
  );
}

/**
 * Reads the agent's reference manual, uncompressing it.
 *
 * @param path The gzipped roff file.
 * @returns Its text.
 * @throws {Deno.errors.NotFound} When it is missing: install Debian's `qemu-guest-agent`.
 */
export function readQgaManual(path: string = QGA_MANUAL_PATH): Promise<string> {
  return readManual(path);
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
