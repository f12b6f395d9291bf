import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit completions`. (Being built.) */
export function registerCompletions(_program: Command): void {}
