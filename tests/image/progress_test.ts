import assert from "node:assert/strict";
import { scratchDir } from "./_images.ts";
import { digestOf, serve } from "./_server.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

/** Runs a Deno script with a terminal as its stderr (util-linux `script`), or with a pipe. */
async function runScript(path: string, arg: string, terminal: boolean): Promise<string> {
  const command = terminal
    ? new Deno.Command("script", {
      args: ["-qec", `${Deno.execPath()} run -A ${path} ${arg} 2>&1 >/dev/null`, "/dev/null"],
      stdin: "null",
    })
    : new Deno.Command(Deno.execPath(), { args: ["run", "-A", path, arg] });
  const { success, stdout, stderr } = await command.output();
  const output = new TextDecoder().decode(terminal ? stdout : stderr);
  assert.ok(success, output);
  return output;
}

Deno.test("image.convert and image.fetch draw a progress line on a terminal, when asked, and only then", async () => {
  await using dir = await scratchDir();
  const bytes = crypto.getRandomValues(new Uint8Array(65536));
  await using server = serve(bytes);
  const script = `${dir.path}/progress.ts`;
  await Deno.writeTextFile(
    script,
    `import { image } from "${MOD}";
const dir = "${dir.path}";
const progress = Deno.args[0] === "yes";
await image.create(dir + "/a.raw", { size: "32M", format: "raw" });
await image.convert(dir + "/a.raw", dir + "/a.qcow2", { progress, overwrite: true });
await image.fetch("${server.url("ranged")}", {
  digest: "${await digestOf(bytes)}",
  cache: dir + "/cache-" + crypto.randomUUID(),
  progress,
});
await Deno.remove(dir + "/a.raw");
`,
  );
  const shown = await runScript(script, "yes", true);
  assert.match(shown, new RegExp(`\\rConverting ${dir.path}/a\\.raw \\[#{30}\\] 100%\\r?\\n`));
  assert.match(shown, /\rdisk\.img \[#{30}\] 100% 0\.1\/0\.1 MB\r?\n/);
  assert.equal(await runScript(script, "no", true), "");
  assert.equal(await runScript(script, "yes", false), "");
});
