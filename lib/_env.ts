// Environment variables read without ever triggering a permission prompt: a variable Deno has
// not been granted reads as unset.

/** Reads an environment variable if `--allow-env` covers it, else `undefined`. */
export function envVar(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
    ? Deno.env.get(name)
    : undefined;
}
