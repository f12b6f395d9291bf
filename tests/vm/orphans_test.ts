import assert from "node:assert/strict";

const child = new URL("../fixtures/orphan_child.ts", import.meta.url).pathname;

async function run(
  how: string,
  signal?: Deno.Signal,
  options: { group?: boolean } = {},
): Promise<{ code: number; owned: { pid: number; dir: string }[]; rest: string }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, how],
    stdout: "piped",
    stderr: "null",
    // A process group of its own, to signal as a terminal does.
    detached: options.group,
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  if (signal !== undefined) {
    if (options.group) Deno.kill(-process.pid, signal);
    else process.kill(signal);
  }
  // A script that never ends fails the test instead of hanging it.
  const timer = setTimeout(() => process.kill("SIGKILL"), 30_000);
  const status = await process.status;
  clearTimeout(timer);
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const [first, ...rest] = text.split("\n");
  return { code: status.code, owned: JSON.parse(first), rest: rest.join("\n").trim() };
}

async function assertNothingLeft(owned: { pid: number; dir: string }[]): Promise<void> {
  assert.equal(owned.length, 2);
  for (const { pid, dir } of owned) {
    // A QEMU killed as the script exits may still be tearing down its memory for a moment (on a
    // loaded machine), then a zombie until init reaps it: wait up to 2 s for that.
    const stateOf = () =>
      Deno.readTextFile(`/proc/${pid}/stat`).then((s) => s.split(" ")[2], () => "gone");
    let state = await stateOf();
    for (let i = 0; i < 40 && state !== "gone" && state !== "Z"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      state = await stateOf();
    }
    assert.ok(state === "gone" || state === "Z", `QEMU ${pid} is still running (${state})`);
    await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound, `${dir} is left behind`);
  }
}

for (
  const [how, signal, code] of [
    ["throw", undefined, 1],
    ["reject", undefined, 1],
    ["end", undefined, 0],
    ["wait", "SIGINT", 130],
    ["wait", "SIGTERM", 143],
    ["wait", "SIGHUP", 129],
    ["wait", "SIGQUIT", 131],
  ] as const
) {
  const what = signal
    ? `gets ${signal}`
    : { throw: "throws", reject: "leaves a rejection unhandled", end: "just ends" }[how];
  Deno.test(`a script that ${what} with VMs up exits ${code} and leaves no QEMU and no runtime dir`, async () => {
    const { code: exit, owned } = await run(how, signal);
    assert.equal(exit, code);
    await assertNothingLeft(owned);
  });
}

Deno.test("a script's own SIGTERM handler shuts its VMs down itself; vmkit does not exit first", async () => {
  const { code, owned, rest } = await run("handler", "SIGTERM");
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(rest).methods, ["quit", "quit"]);
  await assertNothingLeft(owned);
});

Deno.test("console.exec on a VM whose QEMU exited rejects with the reason and kills nothing else", async () => {
  const { code, owned, rest } = await run("exec-dead");
  assert.equal(code, 0);
  const { error, otherUp } = JSON.parse(rest);
  assert.equal(
    error,
    'ConsoleClosedError: Cannot exec "true": QEMU exited with code 0',
  );
  assert.equal(otherUp, true);
  await assertNothingLeft(owned);
});

Deno.test("Ctrl-C in a terminal reaches the script's handler, not its QEMUs, which shut down as it says", async () => {
  // SIGINT to the whole process group, as a terminal sends it.
  const { code, owned, rest } = await run("handler-int", "SIGINT", { group: true });
  assert.equal(code, 0);
  const { methods, stderr } = JSON.parse(rest);
  assert.deepEqual(methods, ["quit", "quit"]);
  // QEMU did not get the signal itself: it would have quit on the spot, saying so.
  assert.doesNotMatch(stderr, /terminating on signal/);
  await assertNothingLeft(owned);
});
