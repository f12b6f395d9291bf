import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit img`. (Being built.) */
export function registerImg(_program: Command): void {}
