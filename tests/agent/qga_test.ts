import assert from "node:assert/strict";
import {
  QGA_COMMAND_NAMES,
  QGA_NO_REPLY_COMMANDS,
  QGA_QEMU_VERSION,
  type QgaCommands,
} from "../../lib/agent/qga.ts";
import {
  countQgaManual,
  generateQgaModule,
  parseQgaManual,
  type QgaCommand,
  type QgaDefinition,
  type QgaManual,
  type QgaMember,
  type QgaTypeRef,
  readQgaManual,
} from "../../scripts/gen_qga.ts";
import { HOST_SAFE_COMMANDS, startHostAgent } from "./_host_agent.ts";

const roff = await readQgaManual();
const manual = parseQgaManual(roff);

function find<K extends QgaDefinition["kind"]>(
  kind: K,
  name: string,
): Extract<QgaDefinition, { kind: K }> {
  const found = manual.definitions.find((d) => d.name === name && d.kind === kind);
  assert.ok(found, `the manual has no ${kind} ${name}`);
  return found as Extract<QgaDefinition, { kind: K }>;
}

// name: "type" for a required member, "type?" for an optional one; arrays as "array of x".
function shape(members: QgaMember[]): Record<string, string> {
  return Object.fromEntries(members.map((m) => [
    m.name,
    `${m.type.array ? "array of " : ""}${m.type.name}${m.optional ? "?" : ""}`,
  ]));
}

Deno.test("the committed guest agent types are what gen:qga makes from the installed manual", async () => {
  const committed = await Deno.readTextFile(new URL("../../lib/agent/qga.ts", import.meta.url));
  assert.ok(
    committed === await generateQgaModule(manual),
    "lib/agent/qga.ts differs from what qemu-ga-ref(7) gives: run deno task gen:qga",
  );
  assert.equal(QGA_QEMU_VERSION, manual.version);
  // The manual and the agent come from the same package.
  const agent = await new Deno.Command("qemu-ga", { args: ["--version"] }).output();
  assert.match(new TextDecoder().decode(agent.stdout), new RegExp(`\\b${manual.version}\\b`));
  const commands = manual.definitions.filter((d) => d.kind === "command").map((d) => d.name);
  assert.deepEqual([...QGA_COMMAND_NAMES], [...commands].sort());
  assert.deepEqual(countQgaManual(manual), {
    commands: 42,
    types: 43,
    members: 231,
    documented: 195,
  });
});

Deno.test("the parse keeps what the manual says of arguments, members and values", () => {
  const exec = find("command", "guest-exec");
  assert.deepEqual(shape(exec.arguments), {
    path: "string",
    arg: "array of string?",
    env: "array of string?",
    "input-data": "string?",
    "capture-output": "boolean?",
  });
  assert.equal(exec.doc, "Execute a command in the guest");
  assert.equal(exec.since, "2.5");
  assert.equal(
    exec.arguments[4].doc,
    "bool flag to enable capture of\nstdout/stderr of running process. defaults to false.",
  );
  assert.deepEqual(exec.returnType, { name: "GuestExec", array: false });
  assert.deepEqual(shape(find("object", "GuestExecStatus").members), {
    exited: "boolean",
    exitcode: "int?",
    signal: "int?",
    "out-data": "string?",
    "err-data": "string?",
    "out-truncated": "boolean?",
    "err-truncated": "boolean?",
  });
  assert.deepEqual(shape(find("command", "guest-file-read").arguments), {
    handle: "int",
    count: "int?",
  });
  const status = find("enum", "GuestFsfreezeStatus");
  assert.deepEqual(status.values, [
    { name: "thawed", doc: "filesystems thawed/unfrozen" },
    { name: "frozen", doc: "all non-network guest filesystems frozen" },
  ]);
  assert.equal(find("enum", "GuestDiskBusType").values.length, 20);

  // The four commands that answer only when they fail, and nothing else.
  assert.deepEqual([...QGA_NO_REPLY_COMMANDS].sort(), [
    "guest-shutdown",
    "guest-suspend-disk",
    "guest-suspend-hybrid",
    "guest-suspend-ram",
  ]);
  // An alternate, a union (its tag's other values add nothing), a nested list in a member's
  // description, prose after an argument list, a build condition, a note.
  assert.deepEqual(shape(find("alternate", "GuestFileWhence").members), {
    value: "int",
    name: "QGASeek",
  });
  const smart = find("object", "GuestDiskSmart");
  assert.equal(smart.tag, "type");
  assert.deepEqual(smart.branches, [{ value: "nvme", type: "GuestNVMeSmart" }]);
  const os = find("object", "GuestOSInfo");
  assert.equal(
    os.members[0].doc,
    "- POSIX: release field returned by uname(2)\n- Windows: build number of the OS",
  );
  assert.match(os.doc, /^Notes: On POSIX systems the fields `id`, `name`/);
  const keys = find("command", "guest-ssh-add-authorized-keys");
  assert.match(keys.doc, /^Append public keys to user \.ssh\/authorized_keys/);
  assert.equal(keys.condition, "`CONFIG_POSIX`");
  assert.match(find("command", "guest-fsfreeze-status").doc, /\n\nNote: This may fail/);
  assert.equal(find("command", "guest-ping").returnType, undefined);
});

Deno.test("the generated types check arguments and replies at compile time", () => {
  const args: QgaCommands["guest-exec"]["arguments"] = { path: "/bin/true" };
  const full: QgaCommands["guest-exec"]["arguments"] = {
    path: "/bin/sh",
    arg: ["-c", "exit 0"],
    env: ["A=1"],
    "capture-output": true,
  };
  // @ts-expect-error: path is required
  const noPath: QgaCommands["guest-exec"]["arguments"] = { arg: [] };
  const captureString: QgaCommands["guest-exec"]["arguments"] = {
    path: "x",
    // @ts-expect-error: capture-output is a boolean
    "capture-output": "yes",
  };
  const read: QgaCommands["guest-file-read"]["arguments"] = { handle: 1 };
  const status: QgaCommands["guest-exec-status"]["return"] = { exited: true, exitcode: 0 };
  // @ts-expect-error: exited is required
  const noExited: QgaCommands["guest-exec-status"]["return"] = { exitcode: 0 };
  const frozen: QgaCommands["guest-fsfreeze-status"]["return"] = "frozen";
  // @ts-expect-error: not a freeze state
  const melted: QgaCommands["guest-fsfreeze-status"]["return"] = "melted";
  const whence: QgaCommands["guest-file-seek"]["arguments"]["whence"][] = [0, "set", "end"];
  // @ts-expect-error: not a whence
  const badWhence: QgaCommands["guest-file-seek"]["arguments"]["whence"] = "middle";
  const cpu: QgaCommands["guest-get-cpustats"]["return"][number] = {
    type: "linux",
    cpu: 0,
    user: 1,
    nice: 0,
    system: 1,
    idle: 5,
  };
  const none: QgaCommands["guest-ping"]["arguments"] = {};
  // @ts-expect-error: guest-ping takes no arguments
  const some: QgaCommands["guest-ping"]["arguments"] = { x: 1 };
  assert.deepEqual(
    [args, full, noPath, captureString, read, status, noExited, frozen, melted, whence, badWhence]
      .length + [cpu, none, some].length,
    14,
  );
});

Deno.test("the parse refuses a manual it does not understand, naming what", () => {
  const broken = (from: string, to: string) => {
    assert.ok(roff.includes(from), from);
    return () => parseQgaManual(roff.replace(from, to));
  };
  assert.throws(
    broken(".SS Since", ".SS Sinse"),
    /Cannot parse qemu-ga-ref\(7\): .* has a section "Sinse"/,
  );
  assert.throws(
    broken(
      ".B \\fBpid\\fP: \\fBint\\fP\npid of child",
      ".B \\fBpid\\fP: \\fBGuestPid\\fP\npid of child",
    ),
    /"GuestExec" member "pid" has the type "GuestPid", which the manual does not define/,
  );
  assert.throws(
    broken("\\fBGuestFileRead\\fP on success.", "\\fBGuestFileWrite\\fP on success."),
    /"guest-file-read" returns GuestFileWrite, but RETURN_TYPES says "GuestFileRead"/,
  );
  assert.throws(
    broken(
      ".SH COPYRIGHT",
      ".SS \\fBguest\\-new\\fP (Command)\n.SS Returns\n.sp\nA thing.\n.SH COPYRIGHT",
    ),
    /"guest-new" returns "A thing\.", and its type is not in RETURN_TYPES/,
  );
  assert.throws(broken("\\(dqthawed\\(dq, ", "\\(xx"), /unknown escape "\\\(xx"/);
  assert.throws(broken(".SS \\fBQGASeek\\fP (Enum)", ".SS \\fBQGASeek\\fP (Event)"), /is a Event/);
});

// A line-per-message client of qemu-ga's socket, typed by the generated QgaCommands.
class Agent {
  #conn: Deno.UnixConn;
  #buffer = new Uint8Array(0);
  sawSentinel = false;
  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }
  async #line(): Promise<string> {
    const chunk = new Uint8Array(65536);
    for (;;) {
      const end = this.#buffer.indexOf(0x0a);
      if (end >= 0) {
        let line = this.#buffer.subarray(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        if (line[0] === 0xff) [line, this.sawSentinel] = [line.subarray(1), true];
        return new TextDecoder().decode(line);
      }
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("qemu-ga closed the connection");
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
  }
  async raw(execute: string, args?: unknown): Promise<{ return?: unknown; error?: unknown }> {
    const message = JSON.stringify(args === undefined ? { execute } : { execute, arguments: args });
    await this.#conn.write(new TextEncoder().encode(`${message}\n`));
    return JSON.parse(await this.#line());
  }
  async call<C extends keyof QgaCommands>(
    command: C,
    ...args: Record<string, never> extends QgaCommands[C]["arguments"]
      ? [QgaCommands[C]["arguments"]?]
      : [QgaCommands[C]["arguments"]]
  ): Promise<QgaCommands[C]["return"]> {
    const reply = await this.raw(command, args[0]);
    if (!("return" in reply)) throw new Error(`${command}: ${JSON.stringify(reply.error)}`);
    assert.deepEqual(conforms(manual, reply.return, command), [], command);
    return reply.return as QgaCommands[C]["return"];
  }
}

// What is wrong with a command's reply, by the parsed manual's types; [] when it conforms.
function conforms(manual: QgaManual, value: unknown, command: string): string[] {
  const problems: string[] = [];
  const types = new Map(manual.definitions.map((d) => [d.name, d]));
  const json = (v: unknown) => JSON.stringify(v)?.slice(0, 80);
  const check = (value: unknown, ref: QgaTypeRef, at: string): void => {
    if (ref.array) {
      if (!Array.isArray(value)) return void problems.push(`${at}: ${json(value)} is no array`);
      return value.forEach((item, i) => check(item, { ...ref, array: false }, `${at}[${i}]`));
    }
    const ok = {
      // Not isSafeInteger: guest-get-time's nanoseconds (~1.8e18) are past 2^53, so JSON.parse
      // rounds them.
      int: Number.isInteger(value),
      number: typeof value === "number",
      string: typeof value === "string",
      boolean: typeof value === "boolean",
      any: true,
      null: value === null,
    }[ref.name];
    if (ok !== undefined) {
      if (!ok) problems.push(`${at}: ${json(value)} is no ${ref.name}`);
      return;
    }
    const type = types.get(ref.name)!;
    if (type.kind === "enum") {
      if (!type.values.some((v) => v.name === value)) {
        problems.push(`${at}: ${json(value)} is no ${ref.name}`);
      }
    } else if (type.kind === "alternate") {
      const fits = type.members.some((m) => {
        const before = problems.length;
        check(value, m.type, at);
        const fit = problems.length === before;
        problems.length = before;
        return fit;
      });
      if (!fits) problems.push(`${at}: ${json(value)} is no ${ref.name}`);
    } else if (type.kind === "object") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return void problems.push(`${at}: ${json(value)} is no ${ref.name} object`);
      }
      const record = value as Record<string, unknown>;
      let members = type.members;
      if (type.tag !== undefined) {
        const branch = type.branches.find((b) => b.value === record[type.tag!]);
        const branchType = branch && types.get(branch.type);
        if (branchType?.kind === "object") members = [...members, ...branchType.members];
      }
      for (const m of members) {
        if (m.name in record) check(record[m.name], m.type, `${at}.${m.name}`);
        else if (!m.optional) problems.push(`${at}: ${ref.name} lacks "${m.name}"`);
      }
      for (const name of Object.keys(record)) {
        if (!members.some((m) => m.name === name)) {
          problems.push(`${at}: ${ref.name} has no "${name}"`);
        }
      }
    }
  };
  const definition = types.get(command) as QgaCommand;
  if (definition.returnType === undefined) {
    if (json(value) !== "{}") problems.push(`${command}: ${json(value)} is not {}`);
  } else {
    check(value, definition.returnType, command);
  }
  return problems;
}

Deno.test("every reply of the real qemu-ga has its generated type, and its command list is the manual's", async () => {
  // The agent that runs in guests, run on this host over a UNIX socket: the same program and
  // replies, without a guest boot; only the commands that cannot change the host are enabled.
  await using host = await startHostAgent();
  using conn = await host.connect();
  const qga = new Agent(conn);

  // The agent lists every command it has (blocked ones as disabled): the manual's, and which
  // send no response on success.
  const info = await qga.call("guest-info");
  assert.equal(info.version, QGA_QEMU_VERSION);
  assert.deepEqual(info.supported_commands.map((c) => c.name).sort(), [...QGA_COMMAND_NAMES]);
  assert.deepEqual(
    info.supported_commands.filter((c) => !c["success-response"]).map((c) => c.name).sort(),
    [...QGA_NO_REPLY_COMMANDS],
  );
  assert.deepEqual(
    info.supported_commands.filter((c) => c.enabled).map((c) => c.name).sort(),
    [...HOST_SAFE_COMMANDS].sort(),
  );

  assert.equal(await qga.call("guest-sync", { id: 4242 }), 4242);
  assert.equal(await qga.call("guest-sync-delimited", { id: 4343 }), 4343);
  assert.ok(qga.sawSentinel, "guest-sync-delimited's reply starts with 0xFF");
  assert.deepEqual(await qga.call("guest-ping"), {});
  const time = await qga.call("guest-get-time");
  assert.ok(Math.abs(time / 1e6 - Date.now()) < 60_000, String(time));
  assert.equal(await qga.call("guest-fsfreeze-status"), "thawed");
  assert.equal((await qga.call("guest-get-osinfo")).machine, Deno.build.arch);
  assert.equal((await qga.call("guest-get-host-name"))["host-name"], Deno.hostname());
  const interfaces = await qga.call("guest-network-get-interfaces");
  assert.ok(interfaces.some((i) => i.name === "lo"));
  assert.ok((await qga.call("guest-get-vcpus")).length >= 1);
  for (
    const command of [
      "guest-get-timezone",
      "guest-get-users",
      "guest-get-fsinfo",
      "guest-get-disks",
      "guest-get-memory-blocks",
      "guest-get-memory-block-info",
      "guest-get-diskstats",
      "guest-get-cpustats",
    ] as const
  ) {
    await qga.call(command);
  }

  // guest-exec and guest-exec-status, output captured.
  const { pid } = await qga.call("guest-exec", {
    path: "/bin/sh",
    arg: ["-c", "echo out; echo err >&2; exit 3"],
    "capture-output": true,
  });
  let status = await qga.call("guest-exec-status", { pid });
  for (let i = 0; !status.exited && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = await qga.call("guest-exec-status", { pid });
  }
  assert.equal(status.exitcode, 3);
  assert.equal(atob(status["out-data"]!), "out\n");
  assert.equal(atob(status["err-data"]!), "err\n");

  // A file: both kinds of whence (the alternate's two branches), read, flush, close.
  const handle = await qga.call("guest-file-open", { path: `${host.dir}/file`, mode: "w+" });
  assert.deepEqual(await qga.call("guest-file-write", { handle, "buf-b64": btoa("hello") }), {
    count: 5,
    eof: false,
  });
  assert.equal(
    (await qga.call("guest-file-seek", { handle, offset: 1, whence: "set" })).position,
    1,
  );
  assert.equal((await qga.call("guest-file-seek", { handle, offset: 0, whence: 0 })).position, 0);
  const read = await qga.call("guest-file-read", { handle, count: 100 });
  assert.deepEqual(read, { count: 5, "buf-b64": btoa("hello"), eof: true });
  assert.deepEqual(await qga.call("guest-file-flush", { handle }), {});
  assert.deepEqual(await qga.call("guest-file-close", { handle }), {});

  // The validator itself is not lenient: a wrong reply does not conform.
  assert.deepEqual(conforms(manual, { exited: "yes", extra: 1 }, "guest-exec-status"), [
    'guest-exec-status.exited: "yes" is no boolean',
    'guest-exec-status: GuestExecStatus has no "extra"',
  ]);
  const blockedReply = await qga.raw("guest-shutdown");
  assert.match(JSON.stringify(blockedReply.error), /disabled/);
});
