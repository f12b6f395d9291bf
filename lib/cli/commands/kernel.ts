import type { Command } from "npm:commander@^14.0.3";

/** Adds `vmkit kernel`. (Being built.) */
export function registerKernel(_program: Command): void {}
