// The public API's documentation, checked as JSR checks it: every export documented, no public
// type referring to a private one (`deno doc --lint`), and every example type-checked, here so CI
// runs it with the tests.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** Runs `deno ARGS` in the repository; fails the test with its first lines of output. */
async function denoSucceeds(args: string[]): Promise<void> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const said = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);
  assert.ok(
    success,
    said.split("\n").filter((l) => !l.startsWith("Check ")).slice(0, 40).join("\n"),
  );
}

Deno.test("deno doc --lint finds every export of mod.ts documented and no private type referenced", async () => {
  await denoSucceeds(["doc", "--lint", "mod.ts"]);
});

Deno.test("every example in the JSDoc and the README type-checks against the real API", async () => {
  await denoSucceeds(["check", "--doc-only", "mod.ts", "lib/", "README.md"]);
  // Every block is checked: none is marked `ignore`, which would hide an example gone stale.
  const ignored = await new Deno.Command("grep", {
    args: ["-rln", "```ts ignore", "mod.ts", "lib/", "README.md"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(ignored.stdout), "");
});
