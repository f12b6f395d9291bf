import assert from "node:assert/strict";
import { linuxSignalName } from "../lib/_signals.ts";
import { signalName } from "../lib/agent/exec.ts";

Deno.test("every Linux signal is named as the host's bash reads the name back to its number", async () => {
  // 32 and 33 are glibc's own; bash names neither.
  const numbers = Array.from({ length: 64 }, (_, i) => i + 1).filter((n) => n !== 32 && n !== 33);
  const names = numbers.map(linuxSignalName);
  const output = await new Deno.Command("bash", {
    args: ["-c", 'for name in "$@"; do kill -l "$name"; done', "bash", ...names],
    stdout: "piped",
  }).output();
  assert.ok(output.success, `bash could not read back ${names.join(" ")}`);
  const back = new TextDecoder().decode(output.stdout).trim().split("\n").map(Number);
  assert.deepEqual(back, numbers);
  assert.deepEqual([names[8], names[30], names[31], names[34], names[61]], [
    "SIGKILL",
    "SIGSYS",
    "SIGRTMIN",
    "SIGRTMIN+3",
    "SIGRTMIN+30",
  ]);
});

Deno.test("a number that names no signal is said as a number, by the agent's signalName too", () => {
  for (const n of [0, 32, 33, 65, -1, 1.5]) {
    assert.equal(linuxSignalName(n), `signal ${n}`);
    assert.equal(signalName(n), `signal ${n}`);
  }
  assert.equal(signalName(11), "SIGSEGV");
  assert.equal(signalName(40), "SIGRTMIN+6");
});
