#!/usr/bin/env -S deno run --allow-all
/**
 * The `vmkit` command line: `deno install -g -A -n vmkit jsr:@vmkit/vmkit/cli`, then
 * `vmkit --help`.
 *
 * @module
 */

import { main } from "./program.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
