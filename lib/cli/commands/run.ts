import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit run`. (Being built.) */
export function registerRun(_program: Command): void {}
