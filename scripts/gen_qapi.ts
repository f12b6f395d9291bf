#!/usr/bin/env -S deno run --allow-run --allow-read --allow-write=lib/qmp,/tmp --allow-net
/**
 * Generates `lib/qmp/qapi.ts`: TypeScript types for every QMP command (arguments and return)
 * and event (data) of the installed QEMU, from its `query-qmp-schema`.
 *
 * QEMU masks the names of schema types (they are numbers), so each type is named after the first
 * place it is met, walking commands, then events, in name order, breadth first:
 * `BlockdevAddArguments`, `BlockdevAddArgumentsQcow2` (a union branch), `QueryBlockReturnItem`
 * (an array element), `QueryStatusReturnStatus` (a field).
 *
 * Usage: `deno task gen:qapi [--binary qemu-system-aarch64] [--out lib/qmp/qapi.ts]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { probeQemu } from "../lib/vm/probe.ts";
import type { QemuVersion } from "../lib/qmp/client.ts";

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

function pascal(text: string): string {
  const name = text.split(/[^A-Za-z0-9]+/).filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1)).join("");
  return /^[0-9]/.test(name) ? `T${name}` : name;
}

function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function doc(features: string[] | undefined, indent: string): string {
  const notes: string[] = [];
  if (features?.includes("deprecated")) notes.push("@deprecated QEMU marks this deprecated.");
  if (features?.includes("unstable")) notes.push("Unstable: QEMU may change or drop it.");
  if (notes.length === 0) return "";
  return `${indent}/** ${notes.join(" ")} */\n`;
}

/**
 * Turns a QAPI schema into the TypeScript module, deterministically.
 *
 * @param schema The `query-qmp-schema` reply.
 * @param source The binary and its version, for the header.
 * @returns The module's text, formatted by `deno fmt`.
 */
export function generateQapiModule(
  schema: SchemaInfo[],
  source: SchemaSource,
): Promise<string> {
  const byName = new Map(schema.map((info) => [info.name, info]));
  const commands = schema.filter((i) => i["meta-type"] === "command")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const events = schema.filter((i) => i["meta-type"] === "event")
    .sort((a, b) => a.name < b.name ? -1 : 1);
  const names = new Map<string, string>();
  const used = new Set<string>();
  const queue: string[] = [];

  const lookup = (type: string): SchemaInfo => {
    const info = byName.get(type);
    if (info === undefined) throw new TypeError(`Cannot generate QAPI types: no type "${type}"`);
    return info;
  };
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

  const out: string[] = [];
  // Breadth first: the queue grows while types are written.
  for (let i = 0; i < queue.length; i++) {
    const info = lookup(queue[i]);
    const name = names.get(info.name)!;
    const meta = info["meta-type"];
    if (meta === "enum") {
      const values = info.values ?? (info.members ?? []).map((m) => m.name!);
      out.push(
        `/** QAPI enum. */\nexport type ${name} =\n${
          values.map((v) => `  | ${JSON.stringify(v)}`).join("\n")
        };\n`,
      );
    } else if (meta === "alternate") {
      const members = info.members ?? [];
      members.forEach((member, index) => visit(member.type!, `${name}Branch${index + 1}`));
      out.push(
        `/** QAPI alternate: any one of these. */\nexport type ${name} =\n${
          members.map((m) => `  | ${ref(m.type!)}`).join("\n")
        };\n`,
      );
    } else if (meta === "object") {
      const members = info.members ?? [];
      for (const member of members) visit(member.type!, `${name}${pascal(member.name!)}`);
      const variants = info.variants ?? [];
      for (const variant of variants) visit(variant.type, `${name}${pascal(variant.case)}`);
      const fields = members.filter((m) => variants.length === 0 || m.name !== info.tag)
        .map((m) =>
          `${doc(m.features, "  ")}  ${key(m.name!)}${"default" in m ? "?" : ""}: ${
            ref(m.type!)
          };\n`
        ).join("");
      if (variants.length === 0) {
        out.push(`/** QAPI object. */\nexport interface ${name} {\n${fields}}\n`);
      } else {
        const tag = members.find((m) => m.name === info.tag)!;
        const tagInfo = lookup(tag.type!);
        const cases = tagInfo.values ?? (tagInfo.members ?? []).map((m) => m.name!);
        const branch = new Map(variants.map((v) => [v.case, v.type]));
        const tagKey = key(info.tag!);
        const lines = cases.map((c) => {
          const type = branch.get(c);
          const literal = `{ ${tagKey}: ${JSON.stringify(c)} }`;
          return type === undefined || isEmptyObject(lookup(type))
            ? `  | ${literal}`
            : `  | (${literal} & ${ref(type)})`;
        });
        const union = `/** QAPI union on \`${info.tag}\`. */\nexport type ${name} =`;
        if (fields === "") {
          out.push(`${union}\n${lines.join("\n")};\n`);
        } else {
          out.push(
            `/** QAPI union: the common fields. */\nexport interface ${name}Base {\n${fields}}\n`,
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
    return `${doc(command.features, "  ")}  ${
      JSON.stringify(command.name)
    }: { arguments: ${args}; return: ${ret} };\n`;
  }).join("");
  const eventLines = events.map((event) =>
    `${doc(event.features, "  ")}  ${key(event.name)}: ${
      event["arg-type"] ? ref(event["arg-type"]) : "Record<string, never>"
    };\n`
  ).join("");
  const { major, minor, micro } = source.version;
  const version = `${major}.${minor}.${micro}${
    source.version.package ? ` (${source.version.package})` : ""
  }`;
  const list = (items: SchemaInfo[]) =>
    `[\n${items.map((item) => `  ${JSON.stringify(item.name)},\n`).join("")}]`;
  return formatTypeScript([
    `// Generated by scripts/gen_qapi.ts from ${source.binary} ${version}; do not edit.\n`,
    `// Regenerate with: deno task gen:qapi --binary ${source.binary}\n`,
    "/**\n * QMP types of every command and event of QEMU " +
    `${major}.${minor}.${micro}, from its QAPI schema\n * (\`query-qmp-schema\`).\n *\n * @module\n */\n`,
    `/** The QEMU version these types were generated from. */\nexport const QAPI_QEMU_VERSION = ${
      JSON.stringify(`${major}.${minor}.${micro}`)
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
  ].join("\n"));
}

// The generated module is formatted as `deno fmt` would, so the committed file passes
// `deno fmt --check` and regenerating it gives the same bytes.
async function formatTypeScript(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
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
    throw new Error(`Cannot format the generated QAPI types: ${new TextDecoder().decode(stderr)}`);
  }
  return new TextDecoder().decode(stdout);
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
      out: { type: "string", default: new URL("../lib/qmp/qapi.ts", import.meta.url).pathname },
    },
  });
  const { schema, version } = await readQapiSchema(values.binary);
  const text = await generateQapiModule(schema, { binary: values.binary, version });
  await Deno.writeTextFile(values.out, text);
  const count = (meta: string) => schema.filter((i) => i["meta-type"] === meta).length;
  console.log(
    `gen:qapi: wrote ${values.out}: ${count("command")} commands, ${
      count("event")
    } events from ${values.binary} ${version.major}.${version.minor}.${version.micro}`,
  );
}
