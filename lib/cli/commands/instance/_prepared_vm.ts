/**
 * The VM a `start` or `restart` boots, checked before anything is stopped or started.
 *
 * @module
 */

import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { pathExists } from "../../../_fs.ts";
import { shellQuote } from "../../../vm/qemu_opts.ts";
import type { InstanceVm } from "../../../instance/mod.ts";
import { instanceDir } from "../../../instance/state_dir.ts";
import type { VmDefinition } from "../../definition/mod.ts";
import { DEFINITION_FILE, library } from "./_instance.ts";

/** The VM a start boots, checked before anything is stopped or started. */
export interface PreparedVm {
  /** The VM; undefined boots what the instance's record saved (a script's builder). */
  vm?: InstanceVm;
  /** Saves the definition as the instance's, once QEMU is up: a failed start keeps the last. */
  save?: (dir: string) => Promise<void>;
}

/**
 * The VM to boot: from FILE, else from the definition saved by an earlier start (with `--set`
 * applied again), else the VM the instance booted last (a script's builder). The definition is
 * loaded and checked, and so are the disks an earlier start made, before anything changes.
 */
export async function prepareVm(
  name: string,
  file: string | undefined,
  set: string[],
): Promise<PreparedVm> {
  const dir = instanceDir(name);
  const saved = `${dir}/${DEFINITION_FILE}`;
  const source = file ?? (await pathExists(saved) ? saved : undefined);
  if (source === undefined) {
    if (set.length > 0) {
      throw new CliError(
        `Cannot apply --set to instance "${name}": it has no saved definition (it was started from a script, or never); give the definition file: vmkit start ${name} FILE --set ...`,
        EXIT.usage,
      );
    }
    return {};
  }
  // A DefinitionError goes to main as it is: one line per problem, each with file:line:column.
  const { definitionBuilder, loadDefinition } = await import("../../definition/mod.ts");
  const { definition } = await loadDefinition(source, { set });
  await checkKeptDisks(name, dir, definition);
  return {
    vm: (at: string) => definitionBuilder(definition, { diskDir: at, create: true }),
    save: (at: string) =>
      Deno.writeTextFile(
        `${at}/${DEFINITION_FILE}`,
        JSON.stringify(definition, null, 2) + "\n",
        { mode: 0o600 },
      ),
  };
}

/**
 * Refuses a definition whose made disks (size, overlayOf) differ from those an earlier start
 * made and the instance keeps: they are never made again, so a new size or base would be ignored.
 */
async function checkKeptDisks(name: string, dir: string, def: VmDefinition): Promise<void> {
  const disks = def.disks ?? [];
  if (!disks.some((disk) => disk.image === undefined)) return;
  const { madeDiskPath } = await import("../../definition/_build.ts");
  const { imageInfo } = await import("../../../image/info.ts");
  const { formatSize, parseImageSize } = await import("../../../image/_size.ts");
  for (const [i, disk] of disks.entries()) {
    if (disk.image !== undefined) continue;
    const format = disk.overlayOf !== undefined ? "qcow2" : disk.format ?? "qcow2";
    const file = madeDiskPath(dir, i, format);
    if (!(await pathExists(file))) continue;
    const info = await library(() => imageInfo(file, { backingChain: false, timeout: 10_000 }));
    const kept = `its disks[${i}] "${file}", made by its first start and kept since,`;
    const anew = `or delete the instance (vmkit delete ${name}) to make it anew`;
    if (disk.overlayOf !== undefined) {
      const base = info.backing?.fullFilename ?? info.backing?.filename;
      if (base !== disk.overlayOf) {
        throw new CliError(
          `Cannot start instance "${name}" with disks[${i}].overlayOf "${disk.overlayOf}": ${kept} is an overlay of "${base}"; vmkit does not rebase it: keep overlayOf "${base}", rebase the overlay yourself (qemu-img rebase -b ${
            shellQuote(disk.overlayOf)
          } -F qcow2 ${shellQuote(file)}), ${anew}`,
        );
      }
    }
    if (disk.size === undefined) continue;
    const wanted = parseImageSize(`Cannot read disks[${i}].size`, disk.size);
    if (wanted === info.virtualSize) continue;
    const have = formatSize(info.virtualSize);
    throw new CliError(
      wanted > info.virtualSize
        ? `Cannot start instance "${name}" with disks[${i}].size ${disk.size}: ${kept} is ${have}, and vmkit does not resize a kept disk; grow it (vmkit img resize ${
          shellQuote(file)
        } ${disk.size}; the guest's partitions and filesystems stay as they are) and start again, ${anew}`
        : `Cannot start instance "${name}" with disks[${i}].size ${disk.size}: ${kept} is ${have}, more than that, and shrinking a disk drops what is past its new end; write size: ${
          info.virtualSize % 2 ** 30 === 0
            ? `${info.virtualSize / 2 ** 30}G`
            : `${info.virtualSize / 2 ** 20}M`
        } in the definition, ${anew}`,
    );
  }
}
