import assert from "node:assert/strict";

const child = new URL("../fixtures/orphan_child.ts", import.meta.url).pathname;

async function run(
  how: string,
  signal?: Deno.Signal,
): Promise<{ code: number; owned: { pid: number; dir: string }[] }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, how],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  if (signal !== undefined) process.kill(signal);
  const status = await process.status;
  await reader.cancel();
  return { code: status.code, owned: JSON.parse(text) };
}

async function assertNothingLeft(owned: { pid: number; dir: string }[]): Promise<void> {
  assert.equal(owned.length, 2);
  for (const { pid, dir } of owned) {
    // The QEMU may be a zombie for a moment until init reaps it: check its state.
    const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
      (s) => s.split(" ")[2],
      () => "gone",
    );
    assert.ok(state === "gone" || state === "Z", `QEMU ${pid} is still running (${state})`);
    await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound, `${dir} is left behind`);
  }
}

for (
  const [how, signal, code] of [
    ["throw", undefined, 1],
    ["reject", undefined, 1],
    ["wait", "SIGINT", 130],
    ["wait", "SIGTERM", 143],
  ] as const
) {
  Deno.test(`a script that ${signal ? `gets ${signal}` : how === "throw" ? "throws" : "leaves a rejection unhandled"} with VMs up leaves no QEMU and no runtime dir`, async () => {
    const { code: exit, owned } = await run(how, signal);
    assert.equal(exit, code);
    await assertNothingLeft(owned);
  });
}
