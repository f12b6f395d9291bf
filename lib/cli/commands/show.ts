import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit show`. (Being built.) */
export function registerShow(_program: Command): void {}
