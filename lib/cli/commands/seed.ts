import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit seed`. (Being built.) */
export function registerSeed(_program: Command): void {}
