/**
 * The VM a definition describes, as a {@linkcode VmBuilder}; with `create`, the disks it makes
 * (overlays, new disks) are made in the VM's disk directory first.
 *
 * @module
 */

import type { VmBuilder } from "../../vm/builder.ts";
import { buildDefinition, StepFailure } from "./_build.ts";
import type { VmDefinition } from "./schema.ts";

/** Options of {@linkcode definitionBuilder}. */
export interface DefinitionBuilderOptions {
  /**
   * The directory of the disks the VM makes: `disks[i]` with `overlayOf` is
   * `DIR/disk<i>.qcow2`, with `size` alone `DIR/disk<i>.qcow2` (`.raw` for format raw).
   */
  diskDir: string;
  /**
   * Make those disks when they are not there yet (an instance's disks survive restarts: one
   * that exists is kept as it is). `false` makes nothing: the builder names the files they would
   * be (`vmkit show`, `vmkit validate`).
   */
  create: boolean;
  /** Cancels making the disks. */
  signal?: AbortSignal;
  /** Time limit for making all the disks, in ms. Default none. */
  timeout?: number;
}

/**
 * Turns a loaded definition into a VM builder: `cpus` → `.smp()`, `memory` → `.memory()`,
 * `guest: tiny` → the tiny guest's kernel and initrd, `disks` → `.drive()`, `network` →
 * `.network()`, `shares` → 9p devices, `seed` → `.cloudInit()`, `ssh` → `.ssh()`, `agent` →
 * `.guestAgent()`, `args` → `.arg()`.
 *
 * @param def A definition from `loadDefinition` (paths absolute).
 * @param options The disk directory, whether to make disks, signal and time limit.
 * @returns The builder.
 * @throws {TypeError} Or another error of the builder, for a definition `loadDefinition` did
 *   not check.
 * @throws {Deno.errors.NotFound} When the tiny guest is not set up (`guest: tiny`).
 * @throws {QemuImgError} When qemu-img cannot make a disk (`create: true`).
 * @throws {ImageTimeoutError} When `timeout` passes while making the disks.
 *
 * @example
 * ```ts
 * import { definitionBuilder, loadDefinition } from "./mod.ts";
 * const { definition } = await loadDefinition("recipes/vm/debian.yaml");
 * const builder = await definitionBuilder(definition, { diskDir: "/tmp/debian", create: true });
 * await using vm = await builder.launch();
 * ```
 */
export async function definitionBuilder(
  def: VmDefinition,
  options: DefinitionBuilderOptions,
): Promise<VmBuilder> {
  try {
    return await buildDefinition(def, options);
  } catch (error) {
    if (error instanceof StepFailure) throw error.error;
    throw error;
  }
}
