import type { Command } from "npm:commander@^14.0.3";

/** Adds the instance commands. (Being built.) */
export function registerInstanceCommands(_program: Command): void {}
