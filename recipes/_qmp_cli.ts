// The command line shared by the QMP recipes: flags, one socket path or HOST:PORT, and a
// connection; bad flags exit 2 with the usage, as does a QEMU that cannot be reached.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { QmpClient } from "../mod.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses the flags and connects; prints the usage for `--help`. */
export async function qmpCli<T extends Options>(
  name: string,
  usage: string,
  options: T,
): Promise<{ values: ReturnType<typeof parseArgs<{ options: T }>>["values"]; qmp: QmpClient }> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: { ...options, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}\n${usage}`);
    Deno.exit(2);
  }
  if (parsed.values.help) {
    console.log(usage);
    Deno.exit(0);
  }
  if (parsed.positionals.length !== 1) {
    console.error(`${name}: give one QMP socket path or HOST:PORT\n${usage}`);
    Deno.exit(2);
  }
  try {
    const qmp = await QmpClient.connect(parsed.positionals[0], { timeout: 10_000 });
    return { values: parsed.values as ReturnType<typeof parseArgs<{ options: T }>>["values"], qmp };
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}`);
    Deno.exit(2);
  }
}
