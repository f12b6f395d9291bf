// Where the CLI finds the tiny guest: $VMKIT_CACHE_DIR (as scripts/setup.sh takes it), else the
// checkout's .cache/vmkit. A bundled or compiled vmkit has no checkout next to it, so it needs
// the variable.

import { envVar } from "../_env.ts";
import { type TinyGuest, tinyGuest, type TinyGuestArch } from "../guest/tiny_guest.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/**
 * The tiny guest for an architecture, from `$VMKIT_CACHE_DIR` or the checkout's cache.
 *
 * @param arch The guest architecture.
 * @param options The variant with the guest agent.
 * @returns Its kernel, initramfs, busybox and modules.
 * @throws {CliError} When it is not there, saying how to make it.
 */
export async function cliTinyGuest(
  arch: TinyGuestArch,
  options: { agent?: boolean } = {},
): Promise<TinyGuest> {
  const cacheDir = envVar("VMKIT_CACHE_DIR") || undefined;
  try {
    return await tinyGuest(arch, { ...options, ...(cacheDir ? { cacheDir } : {}) });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof TypeError) {
      throw new CliError(
        `${(error as Error).message}${
          cacheDir === undefined
            ? "; a vmkit that is not run from its checkout finds it through VMKIT_CACHE_DIR"
            : ` (VMKIT_CACHE_DIR is "${cacheDir}")`
        }`,
        EXIT.failure,
        { cause: error },
      );
    }
    throw error;
  }
}
