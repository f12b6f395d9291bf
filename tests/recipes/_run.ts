// Runs a recipe through its shebang line, as users run it, and collects what it printed.

const recipes = new URL("../../recipes/", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

/** The recipe's exit code and output. */
export async function runRecipe(
  name: string,
  args: string[] = [],
  options: { cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(`${recipes}${name}`, {
    args,
    cwd: options.cwd ?? root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}
