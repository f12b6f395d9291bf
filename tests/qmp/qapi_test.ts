import assert from "node:assert/strict";
import {
  probeQemu,
  QAPI_QEMU_VERSION,
  QMP_COMMAND_NAMES,
  QMP_EVENT_NAMES,
  QmpError,
  type QmpEventOf,
  type QmpReturn,
} from "../../mod.ts";
import { generateQapiModule, readQapiSchema } from "../../scripts/gen_qapi.ts";

Deno.test("the committed QAPI types are what gen:qapi makes from the installed QEMU", async () => {
  const { schema, version } = await readQapiSchema("qemu-system-x86_64");
  assert.equal(QAPI_QEMU_VERSION, `${version.major}.${version.minor}.${version.micro}`);
  const live = (meta: string) =>
    schema.filter((info) => info["meta-type"] === meta).map((info) => info.name).sort();
  // Every command and event of the live schema has a generated type, and nothing more.
  assert.deepEqual([...QMP_COMMAND_NAMES].sort(), live("command"));
  assert.deepEqual([...QMP_EVENT_NAMES].sort(), live("event"));
  const committed = await Deno.readTextFile(new URL("../../lib/qmp/qapi.ts", import.meta.url));
  const generated = await generateQapiModule(schema, { binary: "qemu-system-x86_64", version });
  assert.ok(
    committed === generated,
    "lib/qmp/qapi.ts differs from the installed QEMU's schema: run deno task gen:qapi",
  );
});

Deno.test("typed commands check arguments at compile time and QEMU checks them at run time", async () => {
  await using probe = await probeQemu("qemu-system-x86_64");
  const qmp = probe.qmp;
  const status: QmpReturn<"query-status"> = await qmp.execute("query-status");
  assert.equal(typeof status.running, "boolean");
  // @ts-expect-error: status is a string enum, not a number
  const wrong: number = status.status;
  assert.equal(typeof wrong, "string");

  // @ts-expect-error: device_del requires its arguments
  await assert.rejects(qmp.execute("device_del"), QmpError);
  const error = await qmp.execute(
    "device_del",
    // @ts-expect-error: id is a string
    { id: 5 },
  ).catch((e) => e);
  assert.ok(error instanceof QmpError, String(error));
  assert.equal(error.errorClass, "GenericError");
  assert.match(error.desc, /'id'.*string/);
  const missing = await qmp.execute("device_del", { id: "no-such-device" }).catch((e) => e);
  assert.ok(missing instanceof QmpError);
  assert.equal(missing.errorClass, "DeviceNotFound");

  // A union: the tag picks the branch's fields.
  const blockdev = await qmp.execute("blockdev-add", {
    driver: "null-co",
    "node-name": "vmkit-null",
    size: 1 << 20,
  });
  assert.deepEqual(blockdev, {});
  // @ts-expect-error: "filename" belongs to the file driver, not null-co
  const bad = qmp.execute("blockdev-add", { driver: "null-co", "node-name": "x", filename: "/" });
  await assert.rejects(bad, QmpError);

  // A name the schema does not have still goes out, untyped.
  const unknown = await qmp.execute("x-vmkit-no-such-command", { anything: [1] })
    .catch((e: QmpError) => e);
  assert.ok(unknown instanceof QmpError);
  assert.equal(unknown.errorClass, "CommandNotFound");
  const asString: string = "query-name";
  assert.deepEqual(await qmp.execute(asString), {});
  // The session survives every error above.
  assert.ok((await qmp.execute("query-version")).qemu.major >= 7);
});

Deno.test("waitForEvent types the data of schema events", async () => {
  await using probe = await probeQemu("qemu-system-x86_64");
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const { reply, event } = await probe.qmp.executeAndWait("blockdev-create", {
      "job-id": "create0",
      options: { driver: "file", filename: `${dir}/disk.img`, size: 1 << 20 },
    }, { event: "JOB_STATUS_CHANGE", match: { status: "concluded" }, timeout: 10_000 });
    assert.deepEqual(reply, {});
    const typed: QmpEventOf<"JOB_STATUS_CHANGE"> = event;
    assert.equal(typed.event, "JOB_STATUS_CHANGE");
    const status: "concluded" | string = event.data.status;
    assert.equal(status, "concluded");
    // @ts-expect-error: the job id is a string
    const id: number = event.data.id;
    assert.equal(id, "create0");
    assert.equal((await Deno.stat(`${dir}/disk.img`)).size, 1 << 20);
    await probe.qmp.execute("job-dismiss", { id: "create0" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
