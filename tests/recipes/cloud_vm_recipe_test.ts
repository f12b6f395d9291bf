// recipes/cloud-vm.ts, run through its shebang from another directory. Its whole path (ssh in,
// cloud-init done, --exec, a shutdown through the agent) boots the Debian guest for about 90 s:
// the library test tests/guest/debian_guest_test.ts covers that boot; here, what a user gets
// wrong, and Ctrl-C while it boots.
import assert from "node:assert/strict";
import { runRecipe } from "./_run.ts";

const recipe = new URL("../../recipes/cloud-vm.ts", import.meta.url).pathname;

Deno.test("recipes/cloud-vm.ts answers wrong flags with its usage, and names a key it cannot read", async () => {
  const flag = await runRecipe("cloud-vm.ts", ["--memroy", "1G"], { cwd: "/" });
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^cloud-vm: Unknown option '--memroy'.*\nusage: cloud-vm\.ts /s);
  const cpus = await runRecipe("cloud-vm.ts", ["--cpus", "two"], { cwd: "/" });
  assert.equal(cpus.code, 1);
  assert.match(cpus.stderr, /--cpus two: give a whole number of CPUs/);
  const key = await runRecipe("cloud-vm.ts", ["--key", "/root/.ssh/nope"], { cwd: "/" });
  assert.equal(key.code, 1);
  // --allow-read replaces the set's list: the line names the recipe's own paths too.
  assert.match(
    key.stderr,
    /--key \/root\/\.ssh\/nope: Deno may not read it; run: deno run -q -P=cloud-vm --allow-read=\S*\/\.cache\/vmkit,\/tmp\/vmkit-cloud-vm,\/root\/\.ssh\/nope,\/root\/\.ssh\/nope\.pub \S*recipes\/cloud-vm\.ts --key \/root\/\.ssh\/nope/,
  );
  const memory = await runRecipe("cloud-vm.ts", ["--memory", "lots"], { cwd: "/" });
  assert.equal(memory.code, 1);
  assert.match(memory.stderr, /^cloud-vm: Cannot set memory to "lots"/);
  const root = await runRecipe("cloud-vm.ts", ["--user", "root"], { cwd: "/" });
  assert.match(
    root.stderr,
    /^cloud-vm: Cannot add ssh user "root": cloud-init refuses root logins/,
  );
  await assert.rejects(Deno.stat("/tmp/vmkit-cloud-vm"), Deno.errors.NotFound);
});

Deno.test("recipes/cloud-vm.ts stops the guest and leaves nothing behind on Ctrl-C while it boots", async () => {
  const child = new Deno.Command(recipe, {
    cwd: "/",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("Ctrl-C stops it")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const pid = Number(/QEMU pid (\d+)/.exec(out)?.[1]);
  assert.ok(pid > 0, out);
  child.kill("SIGINT");
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  assert.equal(status.code, 0, stderr);
  assert.match(out, /cloud-vm: stopped \((powerdown|quit|sigterm|sigkill)\) after [\d.]+ s/);
  await assert.rejects(Deno.stat(`/proc/${pid}`), Deno.errors.NotFound);
  await assert.rejects(Deno.stat("/tmp/vmkit-cloud-vm"), Deno.errors.NotFound);
});
