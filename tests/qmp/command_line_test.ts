import assert from "node:assert/strict";
import { parseCommandLine } from "../../mod.ts";

Deno.test("parseCommandLine reads qmp-shell syntax with nested keys and JSON values", () => {
  assert.equal(parseCommandLine("   "), undefined);
  assert.deepEqual(parseCommandLine("query-status"), { command: "query-status" });
  assert.deepEqual(
    parseCommandLine(
      "blockdev-add driver=qcow2 node-name=d1 read-only=true file.driver=file file.filename=/tmp/a,b.qcow2",
    ),
    {
      command: "blockdev-add",
      arguments: {
        driver: "qcow2",
        "node-name": "d1",
        "read-only": true,
        file: { driver: "file", filename: "/tmp/a,b.qcow2" },
      },
    },
  );
  assert.deepEqual(
    parseCommandLine(
      `x n=42 neg=-1 size=1G list=[1, 2] obj={"a": "b c"} s='two words' q="7" z=null`,
    ),
    {
      command: "x",
      arguments: {
        n: 42,
        neg: -1,
        size: "1G",
        list: [1, 2],
        obj: { a: "b c" },
        s: "two words",
        q: "7",
        z: null,
      },
    },
  );
  assert.deepEqual(parseCommandLine('{"execute": "stop"}'), { command: "stop" });
  assert.deepEqual(
    parseCommandLine('{"execute": "device_del", "arguments": {"id": "d"}}'),
    { command: "device_del", arguments: { id: "d" } },
  );
});

Deno.test("parseCommandLine says what is wrong with a bad line", () => {
  assert.throws(() => parseCommandLine("device_del disk1"), {
    name: "SyntaxError",
    message: 'Cannot parse argument "disk1": write key=value',
  });
  assert.throws(() => parseCommandLine("x a=1 a=2"), /"a": the key is empty or given twice/);
  assert.throws(() => parseCommandLine("x a=1 a.b=2"), /"a" already has a value/);
  assert.throws(() => parseCommandLine("x s='open"), /a ' quote is not closed/);
  assert.throws(() => parseCommandLine("x o={"), /brackets do not balance/);
  assert.throws(() => parseCommandLine('{"execute": '), /Cannot parse the JSON command/);
  assert.throws(() => parseCommandLine('{"arguments": {}}'), /it has no "execute" name/);
  assert.throws(() => parseCommandLine('{"execute": "x", "arguments": [1]}'), /not an object/);
});
