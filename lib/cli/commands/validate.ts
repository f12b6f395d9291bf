import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit validate`. (Being built.) */
export function registerValidate(_program: Command): void {}
