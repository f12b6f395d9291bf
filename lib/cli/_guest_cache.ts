// The tiny guest for the CLI: the library finds it ($VMKIT_CACHE_DIR, else the checkout's
// .cache/vmkit); a missing one is a CliError with the library's words, which say what to do.

import { type TinyGuest, tinyGuest, type TinyGuestArch } from "../guest/tiny_guest.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/**
 * The tiny guest for an architecture.
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
  try {
    return await tinyGuest(arch, options);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof TypeError) {
      throw new CliError((error as Error).message, EXIT.failure, { cause: error });
    }
    throw error;
  }
}
