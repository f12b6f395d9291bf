import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit binfmt`. (Being built.) */
export function registerBinfmt(_program: Command): void {}
