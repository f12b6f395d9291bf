/**
 * Reads QEMU's QAPI reference manuals, qemu-qmp-ref(7) and qemu-ga-ref(7), as Debian installs
 * them: roff that Sphinx writes from QEMU's `qapi/*.json` doc comments. One parser for both
 * generators, `gen_qapi.ts` and `gen_qga.ts`; what each manual may hold is its
 * {@linkcode ManualFormat}.
 *
 * The parser is strict on purpose: a request, escape, section or term it does not know fails the
 * parse with what it met, so a new QEMU's manual makes the generators stop instead of dropping its
 * text.
 *
 * @module
 */

/** A type as the manual writes it: a built-in (`int`, `string`, ...) or a named type, or a list. */
export interface ManualTypeRef {
  /** `int`, `number`, `string`, `boolean`, `any`, `null`, or a type the manual defines. */
  name: string;
  /** `true` for the manual's `array of <name>`. */
  array: boolean;
}

/** An argument of a command or event, a member of an object or a branch of an alternate. */
export interface ManualMember {
  /** The name on the wire. */
  name: string;
  /** Its type. */
  type: ManualTypeRef;
  /** `true` when the manual says "(optional)". */
  optional: boolean;
  /** The manual's description, as Markdown; "Not documented" where the manual says so. */
  doc: string;
  /** The build condition of the member (its "If:"), as Markdown, if any. */
  condition?: string;
}

/** A feature of a definition (`deprecated`, `unstable`, ...) and what the manual says of it. */
export interface ManualFeature {
  /** The feature's name. */
  name: string;
  /** The manual's description, as Markdown. */
  doc: string;
}

/** What every definition of the manual has. */
export interface ManualDefinitionBase {
  /** The command's, event's or type's name. */
  name: string;
  /** The description, notes and other prose, as Markdown paragraphs. */
  doc: string;
  /** The manual's "Since" text, if any. */
  since?: string;
  /** The manual's "If" text (a build condition such as `CONFIG_POSIX`), if any. */
  condition?: string;
  /** The manual's "Features" list, where the format allows one and the definition has it. */
  features?: ManualFeature[];
  /** The manual's "Example" sections, as Markdown (code in ```` ```text ```` fences). */
  examples?: string[];
}

/** A command. */
export interface ManualCommand extends ManualDefinitionBase {
  /** Discriminates the definitions. */
  kind: "command";
  /** Its arguments, in the manual's order. */
  arguments: ManualMember[];
  /** Types whose members are its arguments too (the manual's "The members of X"). */
  bases?: string[];
  /** The manual's "Returns" prose, if it has a "Returns" section. */
  returns?: string;
}

/** An event. */
export interface ManualEvent extends ManualDefinitionBase {
  /** Discriminates the definitions. */
  kind: "event";
  /** The members of its `data`, in the manual's order. */
  arguments: ManualMember[];
  /** Types whose members are members of its `data` too (the manual's "The members of X"). */
  bases?: string[];
}

/** An enumeration: a string that is one of `values`. */
export interface ManualEnum extends ManualDefinitionBase {
  /** Discriminates the definitions. */
  kind: "enum";
  /** Its values and their descriptions (and build conditions, if any). */
  values: { name: string; doc: string; condition?: string }[];
}

/** An object; a union when it has `branches`. */
export interface ManualObject extends ManualDefinitionBase {
  /** Discriminates the definitions. */
  kind: "object";
  /** Its members (for a union, including the tag). */
  members: ManualMember[];
  /** Types whose members are its members too (the manual's "The members of X"). */
  bases?: string[];
  /** For a union: the member whose value selects a branch. */
  tag?: string;
  /** For a union: the object whose members are added for a value of the tag. */
  branches: { value: string; type: string }[];
}

/** An alternate: a value of any one of its members' types. */
export interface ManualAlternate extends ManualDefinitionBase {
  /** Discriminates the definitions. */
  kind: "alternate";
  /** Its branches. */
  members: ManualMember[];
}

/** A definition of the manual. */
export type ManualDefinition =
  | ManualCommand
  | ManualEvent
  | ManualEnum
  | ManualObject
  | ManualAlternate;

/** A top-level section of the manual (`.SH`). */
export interface ManualSection {
  /** Its title, such as `"BLOCK DEVICES"`. */
  title: string;
  /** Its roff lines before its first definition. */
  intro: string[];
  /** Its definitions, in the manual's order. */
  definitions: ManualDefinition[];
}

/** The parsed manual. */
export interface Manual {
  /** The QEMU version of the manual (its `.TH` line), such as `"7.2.22"`. */
  version: string;
  /** Its top-level sections, in order. */
  sections: ManualSection[];
}

/** What a manual may hold beyond commands, enums, objects and alternates with their basics. */
export interface ManualFormat {
  /** The manual's name in error messages, such as `"qemu-ga-ref(7)"`. */
  title: string;
  /** The kinds of definition it may have. */
  kinds: readonly ManualDefinition["kind"][];
  /**
   * Section titles a definition may have besides its list (Arguments, Values, Members), "Since",
   * "If", "Note", "Notes" and a command's "Returns": "Features", "Example", "Examples", "TODO".
   */
  extraSections: readonly ("Features" | "Example" | "Examples" | "TODO")[];
}

/** The types every QAPI manual uses without defining them. */
export const BUILTIN_TYPES: Readonly<Record<string, string>> = {
  int: "number",
  number: "number",
  string: "string",
  boolean: "boolean",
  any: "unknown",
  null: "null",
  value: "unknown",
};

/** The text the manual gives where QEMU's schema has no description. */
export const NOT_DOCUMENTED = "Not documented";

const KINDS: Record<string, ManualDefinition["kind"]> = {
  Command: "command",
  Event: "event",
  Enum: "enum",
  Object: "object",
  Alternate: "alternate",
};

// The title of the section that lists a definition's arguments, values or members.
const LIST_TITLES: Record<ManualDefinition["kind"], string> = {
  command: "Arguments",
  event: "Arguments",
  enum: "Values",
  object: "Members",
  alternate: "Members",
};

const DEFINITION = /^\.SS \\fB(.+?)\\fP \((\w+)\)$/;
const MEMBER = /^\\fB(.+?)\\fP: \\fB(.+?)\\fP( \(optional\))?$/;
const BRANCH = /^The members of \\fB(.+?)\\fP when \\fB(.+?)\\fP is \\fB\\\(dq(.+?)\\\(dq\\fP$/;
const BASE = /^The members of \\fB(.+?)\\fP$/;
// A build condition after a term: ` (\fBIf: \fP\fBCONFIG_LINUX\fP)`.
const CONDITION = / \(\\fBIf: \\fP(.+?)\)$/;

/** An item of a definition list: its term (roff), build condition (Markdown) and body (roff). */
export interface ListItem {
  /** The term, without its build condition. */
  term: string;
  /** The description's lines. */
  body: string[];
  /** The build condition after the term, such as `` `CONFIG_LINUX` ``. */
  condition?: string;
}

/**
 * The roff reading of one manual, whose error messages name it: what {@linkcode parseManual}
 * uses, for a generator's own checks in the same words.
 */
export class ManualReader {
  readonly #title: string;

  /**
   * Makes a reader for a manual.
   *
   * @param title The manual's name in error messages, such as `"qemu-ga-ref(7)"`.
   */
  constructor(title: string) {
    this.#title = title;
  }

  /**
   * Fails the parse.
   *
   * @param reason What the manual has that the parser does not understand.
   * @returns Never.
   * @throws {TypeError} `Cannot parse <manual>: <reason>`.
   */
  fail(reason: string): never {
    throw new TypeError(`Cannot parse ${this.#title}: ${reason}`);
  }

  /**
   * Turns roff escapes to text; fonts become Markdown (`code`, *emphasis*) unless `plain`.
   *
   * @param raw A line of roff text.
   * @param plain Drop fonts instead of writing them as Markdown.
   * @returns The text.
   * @throws {TypeError} On an escape the parser does not know.
   */
  unescape(raw: string, plain = false): string {
    // `\e` is a backslash; it waits as U+0000 until the unknown escapes are looked for.
    const text = raw
      .replace(/\\e/g, "\0")
      .replace(/\\fB(.*?)\\fP/g, plain ? "$1" : "`$1`")
      .replace(/\\fI(.*?)\\fP/g, plain ? "$1" : "*$1*")
      .replace(/\\\(dq/g, '"')
      .replace(/\\\(aq/g, "'")
      .replace(/\\\(bu/g, "-")
      .replace(/\\-/g, "-")
      .replace(/\\[&%]/g, "");
    const left = /\\(\(..|.)/.exec(text.replace(/\\\\/g, ""));
    if (left !== null) this.fail(`unknown escape "\\${left[1]}" in line "${raw}"`);
    return text.replace(/\0/g, "\\");
  }

  /**
   * Turns running text into Markdown: paragraphs, lists, definition lists inside text,
   * preformatted text (in ```` ```text ```` fences) and tables.
   *
   * @param lines Roff lines.
   * @returns The Markdown, in which no line starts a JSDoc tag.
   * @throws {TypeError} On a request, list item or escape the parser does not know.
   */
  prose(lines: string[]): string {
    const out: string[] = [];
    let depth = 0;
    let item = false; // the next text line starts the item just opened
    let preformatted = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (preformatted) {
        if (line === ".fi") {
          out.push("```");
          preformatted = false;
        } else if (line !== ".ft C" && line !== ".ft P") {
          if (line.startsWith(".")) this.fail(`unknown request "${line}" in preformatted text`);
          out.push(this.unescape(line, true));
        }
      } else if (line === ".nf") {
        out.push("```text");
        preformatted = true;
      } else if (line === ".TS") {
        const end = lines.indexOf(".TE", i);
        if (end < 0) this.fail(`a table does not end: "${lines.slice(i).join(" ")}"`);
        out.push("", ...this.#table(lines.slice(i + 1, end)), "");
        i = end;
      } else if (line === ".sp") {
        out.push("");
      } else if (line.startsWith(".INDENT")) {
        if (depth === 0) out.push("");
        depth++;
      } else if (line === ".UNINDENT") {
        depth--;
        if (depth === 0) out.push("");
      } else if (line.startsWith(".IP ")) {
        const match = /^\.IP (\S+) \d+$/.exec(line) ?? this.fail(`unknown list item "${line}"`);
        const bullet = match[1] === "\\(bu" ? "-" : match[1];
        out.push(`${"  ".repeat(Math.max(depth - 1, 0))}${bullet} `);
        item = true;
      } else if (line === ".TP") {
        // A term of a definition list inside running text: its own line, then its body.
        const term = lines[++i] ?? "";
        if (!term.startsWith(".B ")) this.fail(`a term without .B: "${term}"`);
        out.push(`${"  ".repeat(depth)}${this.unescape(term.slice(3))}`);
      } else if (line.startsWith(".")) {
        this.fail(`unknown request "${line}" in running text`);
      } else if (item) {
        out[out.length - 1] += this.unescape(line);
        item = false;
      } else {
        out.push(`${"  ".repeat(depth)}${this.unescape(line)}`);
      }
    }
    if (depth !== 0) this.fail(`unbalanced .INDENT in "${lines.join(" ")}"`);
    if (preformatted) this.fail(`.nf without .fi in "${lines.join(" ")}"`);
    // A line of the manual starting with "@" must not start a JSDoc tag.
    return out.join("\n").replace(/\n{3,}/g, "\n\n").replace(/[ \t]+$/gm, "").trim()
      .replace(/^(\s*)@/gm, "$1\\@");
  }

  // A tbl(1) table of T{ text blocks T} (as Sphinx writes them) as a Markdown table.
  #table(lines: string[]): string[] {
    const format = lines.findIndex((line) => line.endsWith("."));
    if (format < 0) this.fail(`a table has no format line: "${lines.join(" ")}"`);
    const rows: string[][] = [];
    let cell: string[] | undefined;
    const row = () => rows[rows.length - 1];
    for (const line of lines.slice(format + 1)) {
      if (line === "_" && cell === undefined) continue;
      if (line === "T{" && cell === undefined) {
        rows.push([]);
        cell = [];
      } else if (line === "T}\tT{" && cell !== undefined) {
        row().push(cell.join(" "));
        cell = [];
      } else if (line === "T}" && cell !== undefined) {
        row().push(cell.join(" "));
        cell = undefined;
      } else if (cell !== undefined && !line.startsWith(".")) {
        cell.push(this.unescape(line));
      } else {
        this.fail(`unknown table line "${line}"`);
      }
    }
    if (cell !== undefined || rows.length === 0) this.fail("a table does not end its last cell");
    const markdown = (cells: string[]) => `| ${cells.join(" | ")} |`;
    return [
      markdown(rows[0]),
      markdown(rows[0].map(() => "---")),
      ...rows.slice(1).map(markdown),
    ];
  }

  /**
   * Splits a definition list (`.INDENT 0.0`, `.TP`, `.B term`, description, `.UNINDENT`) from
   * any text after it.
   *
   * @param lines Roff lines starting with the list.
   * @param where What holds the list, for error messages.
   * @returns The list's items (each a roff term and body lines) and the lines after the list.
   * @throws {TypeError} When the lines do not start with a definition list that ends.
   */
  definitionList(
    lines: string[],
    where: string,
  ): { items: ListItem[]; rest: string[] } {
    if (lines[0] !== ".INDENT 0.0") this.fail(`${where} is not a definition list`);
    const items: ListItem[] = [];
    let depth = 1;
    let i = 1;
    for (; i < lines.length; i++) {
      const line = lines[i];
      if (depth === 1 && line === ".TP") {
        // `.B term`, or the term as text where it has more than one font.
        const raw = lines[++i] ?? "";
        if (raw.startsWith(".") && !raw.startsWith(".B ")) {
          this.fail(`${where} has a term without .B: "${raw}"`);
        }
        const term = raw.startsWith(".B ") ? raw.slice(3) : raw;
        const condition = CONDITION.exec(term);
        items.push(
          condition === null ? { term, body: [] } : {
            term: term.slice(0, condition.index),
            body: [],
            condition: this.unescape(condition[1]),
          },
        );
        continue;
      }
      if (line.startsWith(".INDENT")) depth++;
      if (line === ".UNINDENT" && --depth === 0) break;
      if (items.length === 0) this.fail(`${where} has text before its first term: "${line}"`);
      items[items.length - 1].body.push(line);
    }
    if (depth !== 0) this.fail(`${where} does not end`);
    return { items, rest: lines.slice(i + 1) };
  }

  /**
   * Reads a type as the manual writes it.
   *
   * @param raw Such as `array of \fBBlockInfo\fP` or `int`.
   * @param where What has the type, for error messages.
   * @returns The type.
   * @throws {TypeError} When it is no type name nor `array of` one.
   */
  typeRef(raw: string, where: string): ManualTypeRef {
    const match = /^(array of )?([A-Za-z][A-Za-z0-9_-]*)$/.exec(this.unescape(raw, true)) ??
      this.fail(`${where} has the type "${this.unescape(raw, true)}"`);
    return { name: match[2], array: match[1] !== undefined };
  }

  /**
   * Reads a member of a definition list (`name: type (optional)` and its description).
   *
   * @param item The term and body lines.
   * @param where What has the member, for error messages.
   * @returns The member.
   * @throws {TypeError} When the term is not of that form.
   */
  member(item: ListItem, where: string): ManualMember {
    const match = MEMBER.exec(item.term) ?? this.fail(`${where} has the term "${item.term}"`);
    const name = this.unescape(match[1], true);
    const member: ManualMember = {
      name,
      type: this.typeRef(match[2], `${where} member "${name}"`),
      optional: match[3] !== undefined,
      doc: this.prose(item.body),
    };
    if (item.condition !== undefined) member.condition = item.condition;
    return member;
  }

  /**
   * Reads members, and the types whose members are added ("The members of X"), and the union
   * branches ("The members of X when tag is "value"") when `branches` is given.
   *
   * @param items Terms and bodies of a definition list.
   * @param where What has the members, for error messages.
   * @param branches Where to put union branches; without it, they fail.
   * @returns The members and the bases.
   * @throws {TypeError} On a term of no known form.
   */
  members(
    items: ListItem[],
    where: string,
    branches?: { value: string; type: string; on: string }[],
  ): { members: ManualMember[]; bases: string[] } {
    const members: ManualMember[] = [];
    const bases: string[] = [];
    for (const item of items) {
      const branch = BRANCH.exec(item.term);
      const base = branch === null ? BASE.exec(item.term) : null;
      if (base !== null) {
        bases.push(this.unescape(base[1], true));
      } else if (branch !== null && branches !== undefined) {
        const [type, on, value] = [branch[1], branch[2], branch[3]].map((s) =>
          this.unescape(s, true)
        );
        branches.push({ type, on, value });
      } else {
        members.push(this.member(item, where));
      }
    }
    return { members, bases };
  }

  /**
   * Reads one definition.
   *
   * @param chunk Its name, kind (as the manual writes it, "Command") and lines after its header.
   * @param format What the manual may hold.
   * @returns The definition.
   * @throws {TypeError} On a kind, section, term, request or escape the format does not allow.
   */
  definition(
    chunk: { name: string; kind: string; lines: string[] },
    format: ManualFormat,
  ): ManualDefinition {
    const kind = KINDS[chunk.kind];
    if (kind === undefined || !format.kinds.includes(kind)) {
      this.fail(`"${chunk.name}" is a ${chunk.kind}, which this generator does not know`);
    }
    const where = `${chunk.kind.toLowerCase()} "${chunk.name}"`;
    const sections: { title: string; lines: string[] }[] = [{ title: "", lines: [] }];
    for (const line of chunk.lines) {
      const title = /^\.SS (.+)$/.exec(line);
      if (title !== null) sections.push({ title: this.unescape(title[1], true), lines: [] });
      else sections[sections.length - 1].lines.push(line);
    }
    const extra = new Set<string>(format.extraSections);
    const paragraphs: string[] = [];
    const notes: string[] = [];
    const examples: string[] = [];
    let features: ManualFeature[] | undefined;
    let items: ListItem[] = [];
    let since: string | undefined;
    let condition: string | undefined;
    let returns: string | undefined;
    const listTitle = LIST_TITLES[kind];
    for (const section of sections) {
      const text = () => this.prose(section.lines);
      if (section.title === "") paragraphs.push(text());
      else if (section.title === listTitle) {
        const list = this.definitionList(section.lines, `${where}'s ${section.title}`);
        items = list.items;
        paragraphs.push(this.prose(list.rest));
      } else if (section.title === "Since") since = text();
      else if (section.title === "If") condition = text();
      else if (section.title === "Note" || section.title === "Notes") {
        notes.push(`${section.title}: ${text()}`);
      } else if (section.title === "Returns" && kind === "command") returns = text();
      else if (section.title === "TODO" && extra.has("TODO")) {
        notes.push(`${section.title}: ${text()}`);
      } else if (/^Examples?$/.test(section.title) && extra.has(section.title)) {
        examples.push(text());
      } else if (section.title === "Features" && extra.has("Features")) {
        const list = this.definitionList(section.lines, `${where}'s ${section.title}`);
        paragraphs.push(this.prose(list.rest));
        features = list.items.map((item) => {
          const match = /^\\fB(.+?)\\fP$/.exec(item.term) ??
            this.fail(`${where} has the feature "${item.term}"`);
          return { name: this.unescape(match[1], true), doc: this.prose(item.body) };
        });
      } else if (section.lines[0] === ".TS") {
        // A table under a heading of its own inside the description.
        paragraphs.push(`${section.title}:\n\n${text()}`);
      } else this.fail(`${where} has a section "${section.title}"`);
    }
    const doc = [...paragraphs, ...notes].filter((p) => p !== "").join("\n\n");
    const base: ManualDefinitionBase = { name: chunk.name, doc, since, condition };
    if (features !== undefined) base.features = features;
    if (examples.length > 0) base.examples = examples;
    if (kind === "enum") {
      return {
        ...base,
        kind,
        values: items.map((item) => {
          const match = /^\\fB(.+?)\\fP$/.exec(item.term) ??
            this.fail(`${where} has the value "${item.term}"`);
          const value = { name: this.unescape(match[1], true), doc: this.prose(item.body) };
          return item.condition === undefined ? value : { ...value, condition: item.condition };
        }),
      };
    }
    if (kind === "object") {
      const found: { value: string; type: string; on: string }[] = [];
      const { members, bases } = this.members(items, where, found);
      let tag: string | undefined;
      const branches: { value: string; type: string }[] = [];
      for (const { type, on, value } of found) {
        if (tag !== undefined && tag !== on) {
          this.fail(`${where} branches on both ${tag} and ${on}`);
        }
        tag = on;
        branches.push({ value, type });
      }
      return { ...base, kind, members, ...(bases.length > 0 ? { bases } : {}), tag, branches };
    }
    if (kind === "alternate") {
      return { ...base, kind, members: items.map((item) => this.member(item, where)) };
    }
    const { members, bases } = this.members(items, where);
    const withBases = bases.length > 0 ? { bases } : {};
    if (kind === "event") return { ...base, kind, arguments: members, ...withBases };
    return { ...base, kind, arguments: members, ...withBases, returns };
  }
}

/**
 * Parses a QAPI reference manual into its sections and definitions, and checks that every type
 * its members name is built in or defined, and that every union branch is an object for a value
 * of the union's tag.
 *
 * @param roff The manual's text (uncompressed).
 * @param format What the manual may hold, and its name for error messages.
 * @returns Its version and sections.
 * @throws {TypeError} When the manual has something this parser does not know (a new kind of
 * definition or section, term, roff request or escape), or names a type it does not define:
 * then the generator needs updating, not the output.
 */
export function parseManual(roff: string, format: ManualFormat): Manual {
  const reader = new ManualReader(format.title);
  const lines = roff.split("\n");
  const th = lines.find((line) => line.startsWith(".TH ")) ?? reader.fail("it has no .TH line");
  const version = [...th.matchAll(/"([^"]*)"/g)].map((m) => m[1])[3] ??
    reader.fail(`its .TH line has no version: ${th}`);

  // Sections (.SH), and in them definitions (.SS \fBname\fP (Kind)). A .SS heading followed at
  // once by another .SS line is a subsection's title ("Block core (VM unrelated)"), which ends
  // the definition before it.
  const raw: {
    title: string;
    intro: string[];
    chunks: { name: string; kind: string; lines: string[] }[];
  }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith(".SH ")) {
      raw.push({ title: reader.unescape(line.slice(4), true), intro: [], chunks: [] });
      continue;
    }
    const section = raw[raw.length - 1];
    if (section === undefined) continue; // the preamble: macros and the .TH line
    const header = DEFINITION.exec(line);
    const chunk = section.chunks[section.chunks.length - 1];
    if (header !== null) {
      section.chunks.push({ name: reader.unescape(header[1], true), kind: header[2], lines: [] });
    } else if (chunk === undefined) {
      section.intro.push(line);
    } else if (line.startsWith(".SS ") && lines[i + 1]?.startsWith(".SS ")) {
      const next = lines[i + 1];
      if (!DEFINITION.test(next) && !lines[i + 2]?.startsWith(".SS ")) {
        reader.fail(`the heading "${line}" is followed by "${next}"`);
      }
      section.chunks.push({ name: "", kind: "", lines: [] }); // nothing until the next header
    } else if (chunk.kind === "") {
      reader.fail(`text after the heading before "${line}"`);
    } else {
      chunk.lines.push(line);
    }
  }
  const sections = raw.map((section): ManualSection => ({
    title: section.title,
    intro: section.intro,
    definitions: section.chunks.filter((chunk) => chunk.kind !== "")
      .map((chunk) => reader.definition(chunk, format)),
  }));

  // Every type named is built in or defined; union branches are objects for values of the tag.
  const definitions = sections.flatMap((section) => section.definitions);
  const types = new Map<string, ManualDefinition>(
    definitions.filter((d) => d.kind !== "command" && d.kind !== "event").map((d) => [d.name, d]),
  );
  const checkRef = (ref: ManualTypeRef, where: string) => {
    if (!(ref.name in BUILTIN_TYPES) && !types.has(ref.name)) {
      reader.fail(`${where} has the type "${ref.name}", which the manual does not define`);
    }
  };
  for (const definition of definitions) {
    if (definition.kind === "enum") continue;
    const members = definition.kind === "command" || definition.kind === "event"
      ? definition.arguments
      : definition.members;
    for (const m of members) checkRef(m.type, `"${definition.name}" member "${m.name}"`);
    if (definition.kind !== "alternate") {
      for (const base of definition.bases ?? []) {
        if (types.get(base)?.kind !== "object") {
          reader.fail(`"${definition.name}" has the members of "${base}", which is no object`);
        }
      }
    }
    if (definition.kind === "object" && definition.tag !== undefined) {
      const tag = allMembers(definition, types).find((m) => m.name === definition.tag) ??
        reader.fail(
          `object "${definition.name}" branches on "${definition.tag}", which is not one of its ` +
            "members",
        );
      for (const branch of definition.branches) {
        if (types.get(branch.type)?.kind !== "object") {
          reader.fail(
            `"${definition.name}" has the branch "${branch.type}", which is not an object`,
          );
        }
        const tagType = types.get(tag.type.name);
        if (tagType?.kind !== "enum" || !tagType.values.some((v) => v.name === branch.value)) {
          reader.fail(
            `"${definition.name}" has a branch for "${branch.value}", no value of its tag`,
          );
        }
      }
    }
  }
  return { version, sections };
}

/**
 * The members of an object, a command's arguments or an event's data, with the members of the
 * types it names as bases ("The members of X"), in the manual's order, bases after.
 *
 * @param definition The object, command or event.
 * @param types The manual's types by name.
 * @returns Every member.
 */
export function allMembers(
  definition: ManualObject | ManualCommand | ManualEvent,
  types: ReadonlyMap<string, ManualDefinition>,
): ManualMember[] {
  const own = definition.kind === "object" ? definition.members : definition.arguments;
  return [
    ...own,
    ...(definition.bases ?? []).flatMap((name) => {
      const base = types.get(name);
      return base?.kind === "object" ? allMembers(base, types) : [];
    }),
  ];
}

/**
 * Writes a JSDoc block of Markdown text, in which `*\/` cannot end it early: on one line when the
 * text is one line without `@since`.
 *
 * @param text The Markdown.
 * @param indent What goes before each line.
 * @returns The block, ending in a newline.
 */
export function jsdoc(text: string, indent = ""): string {
  const lines = text.replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1 && !lines[0].includes("@since")) {
    return `${indent}/** ${lines[0]} */\n`;
  }
  return `${indent}/**\n${
    lines.map((line) => `${indent} *${line === "" ? "" : ` ${line}`}`).join("\n")
  }\n${indent} */\n`;
}

/**
 * Writes a Markdown list of `label: doc` items.
 *
 * @param items The labels (Markdown) and their descriptions (Markdown, lines indented under it).
 * @returns The list.
 */
export function bulletList(items: { label: string; doc: string }[]): string {
  return items.map((item) => `- ${item.label}: ${item.doc.replace(/\n/g, "\n  ")}`).join("\n");
}

/**
 * Reads a gzipped manual page.
 *
 * @param path The gzipped roff file, such as `/usr/share/man/man7/qemu-qmp-ref.7.gz`.
 * @returns Its text.
 * @throws {Deno.errors.NotFound} When it is missing.
 */
export async function readManual(path: string): Promise<string> {
  const file = await Deno.open(path);
  const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

/**
 * Formats a generated module as `deno fmt` would, so the committed file passes
 * `deno fmt --check` and regenerating it gives the same bytes. Runs `deno` from `PATH` (the
 * generators' tasks may run only that).
 *
 * @param text The module's text.
 * @param what Whose types, for the error: `"QAPI"` or `"QGA"`.
 * @returns The formatted text.
 */
export async function formatTypeScript(text: string, what: string): Promise<string> {
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
    throw new Error(
      `Cannot format the generated ${what} types: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout);
}
