// The initramfs `vmkit kernel` boots a given kernel with: the tiny guest's own when the kernel is
// the tiny guest's (same release), else one built now from the tiny guest's busybox and init with
// the kernel's modules (from --modules, or /lib/modules/RELEASE as virtme-ng takes them), or
// without modules for a kernel that has its virtio drivers built in.

import { initramfs } from "../guest/initramfs.ts";
import { moduleName, parseModulesDep } from "../guest/modules_dep.ts";
import {
  TINY_GUEST_OS_RELEASE,
  type TinyGuest,
  type TinyGuestArch,
  tinyGuestModules,
} from "../guest/tiny_guest.ts";
import { pathExists } from "../_fs.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";

/** The initramfs chosen, and where its modules came from. */
export interface KernelInitrd {
  /** The initramfs file. */
  path: string;
  /** The modules directory it holds modules of, if any. */
  modulesDir?: string;
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? path;
}

/**
 * The `lib/modules/RELEASE` directory in what `--modules` names: the directory itself (it has
 * `modules.dep`), or a `make modules_install INSTALL_MOD_PATH=DIR` root holding
 * `lib/modules/RELEASE` (the kernel's release picks one when there are several).
 */
async function modulesDirIn(dir: string, release: string | undefined): Promise<string> {
  if (!await pathExists(dir)) {
    throw new CliError(`Cannot use --modules "${dir}": it does not exist`, EXIT.usage);
  }
  if (await pathExists(`${dir}/modules.dep`)) return dir.replace(/(?<=.)\/+$/, "");
  const releases: string[] = [];
  for (const root of [`${dir}/lib/modules`, `${dir}/usr/lib/modules`]) {
    try {
      for await (const entry of Deno.readDir(root)) {
        if (await pathExists(`${root}/${entry.name}/modules.dep`)) {
          releases.push(`${root}/${entry.name}`);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
        throw error;
      }
    }
  }
  const match = releases.find((path) => basename(path) === release);
  if (match !== undefined) return match;
  if (releases.length === 1) return releases[0];
  throw new CliError(
    releases.length === 0
      ? `Cannot use --modules "${dir}": it has no modules.dep, nor lib/modules/RELEASE/modules.dep; give a directory made by "make modules_install INSTALL_MOD_PATH=DIR" (or run depmod in it)`
      : `Cannot use --modules "${dir}": it has modules of ${
        releases.map((path) => basename(path)).join(", ")
      }, and the kernel is ${
        release ?? "of a release vmkit cannot read"
      }; name one lib/modules/RELEASE directory`,
    EXIT.usage,
  );
}

/** The tiny guest's modules that this modules directory has, or has built into the kernel. */
async function availableModules(modulesDir: string, arch: TinyGuestArch): Promise<string[]> {
  const available = new Set(
    parseModulesDep(await Deno.readTextFile(`${modulesDir}/modules.dep`)).keys(),
  );
  const builtin = await Deno.readTextFile(`${modulesDir}/modules.builtin`).catch(() => "");
  for (const line of builtin.split("\n")) if (line) available.add(moduleName(line));
  return tinyGuestModules(arch).filter((name) => available.has(moduleName(name)));
}

/**
 * Picks or builds the initramfs for `vmkit kernel`.
 *
 * @param guest The tiny guest of the kernel's architecture (its busybox, its initramfs).
 * @param release The kernel's release, when known.
 * @param options `modules`: the `--modules` directory; `workDir`: where a built image goes.
 * @returns The initramfs and its modules directory.
 * @throws {CliError} When `--modules` names no usable directory, or its release is not the
 *   kernel's.
 */
export async function kernelInitrd(
  guest: TinyGuest,
  release: string | undefined,
  options: { modules?: string; workDir: string },
): Promise<KernelInitrd> {
  let modulesDir: string | undefined;
  if (options.modules !== undefined) {
    modulesDir = await modulesDirIn(options.modules, release);
    if (release !== undefined && basename(modulesDir) !== release) {
      throw new CliError(
        `Cannot use --modules "${options.modules}": its modules are of release ${
          basename(modulesDir)
        }, and the kernel is ${release}; the kernel refuses modules of another release`,
        EXIT.usage,
      );
    }
  } else if (release !== undefined && guest.modulesDir !== undefined) {
    if (basename(guest.modulesDir) === release) {
      return { path: guest.initrd, modulesDir: guest.modulesDir };
    }
    const host = `/lib/modules/${release}`;
    if (await pathExists(`${host}/modules.dep`)) modulesDir = host;
  }
  let image = initramfs().busybox(guest.busybox).file("etc/os-release", TINY_GUEST_OS_RELEASE);
  if (modulesDir !== undefined) {
    image = image.modules(modulesDir, await availableModules(modulesDir, guest.arch));
  }
  const path = `${options.workDir}/initrd.img`;
  await Deno.writeFile(path, await image.build());
  return modulesDir === undefined ? { path } : { path, modulesDir };
}
