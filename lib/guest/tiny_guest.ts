/**
 * The tiny guest: a kernel plus a busybox initramfs built by vmkit, the default guest of the
 * demo, the tests and the benchmarks.
 *
 * @module
 */

import { initramfs } from "./initramfs.ts";
import { envVar } from "../_env.ts";
import { GUEST_PROMPT, GUEST_READY_LINE } from "./default_init.ts";
import { moduleName, parseModulesDep } from "./modules_dep.ts";

/** Guest architectures the tiny guest is prepared for by `scripts/setup.sh`. */
export type TinyGuestArch = "x86_64" | "aarch64";

/** Paths and settings to boot the tiny guest. */
export interface TinyGuest {
  /** Guest architecture. */
  arch: TinyGuestArch;
  /** Kernel image: on x86_64 the uncompressed, PVH-bootable `vmlinux` when setup could extract it, else `vmlinuz`. */
  kernel: string;
  /** The vmkit-built initramfs for that kernel (`initrd-agent.img` when the agent was asked for). */
  initrd: string;
  /**
   * Whether the initramfs has the QEMU guest agent: `qemu-ga` runs when the machine has a
   * virtio-serial port named `org.qemu.guest_agent.0`, before the ready line. Only with
   * `{ agent: true }`, which exists for the host's own architecture (setup copies the host's
   * `qemu-ga` with its libraries; the aarch64 tiny guest on an x86_64 host has no agent).
   */
  agent: boolean;
  /** The kernel modules directory the initramfs was built from, if any. */
  modulesDir?: string;
  /**
   * The static busybox the initramfs was built with: with {@linkcode modulesDir}, what an
   * initramfs with more modules needs (`initramfs().busybox(g.busybox).modules(g.modulesDir,
   * [...tinyGuestModules(arch), "9p"])`).
   */
  busybox: string;
  /** Where the kernel comes from: the host's own, or Debian's cloud kernel from the cache. */
  source: "host" | "debian";
  /** Line the guest prints when its shell starts. */
  readyLine: string;
  /** The guest shell's prompt. */
  prompt: string;
}

/** Options of {@linkcode tinyGuest}. */
export interface TinyGuestOptions {
  /** Cache directory `scripts/setup.sh` filled. Default: {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /**
   * The initramfs with the QEMU guest agent (`initrd-agent.img`). It is a variant, not the
   * default: its 6 MB more of glibc, GLib and qemu-ga made the boot to the ready line about 15%
   * (guest clock) to 28% (host clock) slower under TCG. Default `false`.
   */
  agent?: boolean;
}

/** Options of {@linkcode buildTinyGuestInitramfs}. */
export interface BuildTinyGuestOptions {
  /** Cache directory `scripts/setup.sh` filled. Default: {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /**
   * A host `qemu-ga` to include with its libraries (`/usr/sbin/qemu-ga`), for the variant with
   * the guest agent. It must be built for the guest's architecture.
   */
  agent?: string;
}

/** The tiny guest's `/etc/os-release`, which `guest-get-osinfo` of the guest agent reports. */
export const TINY_GUEST_OS_RELEASE = `NAME="vmkit tiny guest"
ID=vmkit-tiny
PRETTY_NAME="vmkit tiny guest (busybox)"
VERSION_ID=1
VARIANT="busybox initramfs"
VARIANT_ID=busybox
`;

/**
 * Kernel modules the tiny guest has: the virtio drivers for disks (and SCSI disks behind
 * virtio-scsi), network, entropy, balloon and consoles, and what makes the power button reach
 * the init (ACPI's `button` on x86_64, `gpio_keys` for the virt machine's GPIO power key on
 * aarch64), and on x86_64 the pvpanic driver. Its init loads each one when a device it drives is
 * present, at boot or hot-added.
 *
 * @param arch The guest architecture.
 * @returns Module names.
 */
export function tinyGuestModules(arch: TinyGuestArch): string[] {
  const common = [
    "virtio_pci",
    "virtio_mmio",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "virtio_net",
    "virtio_rng",
    "virtio_balloon",
    "virtio_console",
    "evdev",
  ];
  // pvpanic_mmio: a panic reaches QMP as GUEST_PANICKED when the VM has .pvpanic() (the
  // aarch64 kernel has no pvpanic driver).
  return [...common, ...arch === "x86_64" ? ["button", "pvpanic_mmio"] : ["gpio_keys"]];
}

/**
 * Where `scripts/setup.sh` keeps the tiny guest's assets by default: `$VMKIT_CACHE_DIR` when it
 * is set and Deno may read it (setup.sh takes the same variable), else `.cache/vmkit` at the root
 * of this checkout. A bundled or compiled program has no checkout next to it, so it needs the
 * variable (or `{ cacheDir }`).
 *
 * @returns The directory's path.
 */
export function defaultCacheDir(): string {
  const fromEnv = envVar("VMKIT_CACHE_DIR");
  if (fromEnv) return fromEnv;
  const url = new URL("../../.cache/vmkit", import.meta.url);
  if (url.protocol !== "file:") {
    throw new TypeError(
      `Cannot locate the tiny guest cache next to ${import.meta.url}: pass { cacheDir }`,
    );
  }
  return decodeURIComponent(url.pathname);
}

/**
 * Builds the tiny guest's initramfs: busybox, the modules of {@linkcode tinyGuestModules} with
 * their dependencies, `/etc/os-release`, the default init, and with `options.agent` the QEMU
 * guest agent with its libraries. It is left uncompressed: the kernel would spend about 50 ms
 * under TCG inflating gzip, more than reading the extra 2 MB costs.
 *
 * @param arch The guest architecture.
 * @param options Cache directory, guest agent.
 * @returns The initramfs, an uncompressed cpio archive.
 * @throws {TypeError} When the agent is not built for the guest's architecture.
 * @throws {Deno.errors.NotFound} When a file is missing.
 */
export async function buildTinyGuestInitramfs(
  arch: TinyGuestArch,
  options: BuildTinyGuestOptions = {},
): Promise<Uint8Array> {
  const dir = `${options.cacheDir ?? defaultCacheDir()}/${arch}`;
  let image = initramfs().busybox(`${dir}/busybox`).file("etc/os-release", TINY_GUEST_OS_RELEASE);
  if (options.agent !== undefined) image = image.executable(options.agent);
  const modulesDir = await modulesDirOf(dir);
  if (modulesDir !== undefined) {
    let names = tinyGuestModules(arch);
    if ((await kernelSource(dir)) === "host") {
      // The host's kernel may lack some of them; Debian's has them all, so there a missing one
      // is an error.
      const available = new Set(
        parseModulesDep(await Deno.readTextFile(`${modulesDir}/modules.dep`)).keys(),
      );
      const builtin = await Deno.readTextFile(`${modulesDir}/modules.builtin`).catch(() => "");
      for (const line of builtin.split("\n")) if (line) available.add(moduleName(line));
      names = names.filter((name) => available.has(moduleName(name)));
    }
    image = image.modules(modulesDir, names);
  }
  return await image.build();
}

async function kernelSource(dir: string): Promise<"host" | "debian"> {
  const manifest = await Deno.readTextFile(`${dir}/manifest`).catch(() => "");
  return /^kernel host /m.test(manifest) ? "host" : "debian";
}

async function modulesDirOf(dir: string): Promise<string | undefined> {
  const versions: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${dir}/lib/modules`)) versions.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (versions.length > 1) {
    throw new RangeError(
      `Cannot pick the tiny guest's kernel modules: "${dir}/lib/modules" has ${versions.length} versions; run ./scripts/setup.sh`,
    );
  }
  return versions.length === 1 ? `${dir}/lib/modules/${versions[0]}` : undefined;
}

/**
 * Locates the tiny guest prepared by `scripts/setup.sh`.
 *
 * @param arch The guest architecture.
 * @param options Cache directory; the variant with the guest agent.
 * @returns Kernel and initramfs paths.
 * @throws {TypeError} When the architecture has no tiny guest.
 * @throws {Deno.errors.NotFound} When setup has not been run: the message says to run it; with
 *   `agent`, when setup made no agent variant for the architecture (it makes one only for the
 *   host's architecture, with `qemu-guest-agent` installed).
 *
 * @example
 * ```ts
 * import { tinyGuest, vm } from "@vmkit/vmkit";
 * const guest = await tinyGuest("x86_64");
 * await using machine = await vm({ arch: "x86_64" }).kernel(guest.kernel, { initrd: guest.initrd }).launch();
 * ```
 *
 * @example With the QEMU guest agent on its usual port
 * ```ts
 * import { tinyGuest, vm } from "@vmkit/vmkit";
 * const guest = await tinyGuest("x86_64", { agent: true });
 * await using machine = await vm({ arch: "x86_64" })
 *   .kernel(guest.kernel, { initrd: guest.initrd })
 *   .device({
 *     kind: "virtio-serial-port",
 *     name: "org.qemu.guest_agent.0",
 *     chardev: { backend: "socket", path: "/tmp/qga.sock", server: true },
 *   })
 *   .launch();
 * ```
 */
export async function tinyGuest(
  arch: TinyGuestArch,
  options: TinyGuestOptions = {},
): Promise<TinyGuest> {
  if (arch !== "x86_64" && arch !== "aarch64") {
    throw new TypeError(
      `Cannot use the tiny guest for arch ${
        JSON.stringify(arch)
      }: it exists for "x86_64" and "aarch64"`,
    );
  }
  const dir = `${options.cacheDir ?? defaultCacheDir()}/${arch}`;
  // setup extracts an uncompressed, PVH-bootable vmlinux on x86_64 when the kernel allows it.
  const pvh = arch === "x86_64" &&
    await Deno.stat(`${dir}/vmlinux`).then((info) => info.isFile, () => false);
  const guest: TinyGuest = {
    arch,
    kernel: pvh ? `${dir}/vmlinux` : `${dir}/vmlinuz`,
    initrd: options.agent ? `${dir}/initrd-agent.img` : `${dir}/initrd.img`,
    agent: options.agent ?? false,
    busybox: `${dir}/busybox`,
    source: await kernelSource(dir),
    readyLine: GUEST_READY_LINE,
    prompt: GUEST_PROMPT,
  };
  const modulesDir = await modulesDirOf(dir);
  if (modulesDir !== undefined) guest.modulesDir = modulesDir;
  for (const path of [guest.kernel, guest.initrd]) {
    try {
      await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && path === guest.initrd && guest.agent) {
        throw new Deno.errors.NotFound(
          arch === Deno.build.arch
            ? `Cannot use the ${arch} tiny guest with the guest agent: "${path}" does not exist; run ./scripts/setup.sh, which builds it from the host's qemu-ga (package qemu-guest-agent), or set VMKIT_CACHE_DIR to the directory it filled`
            : `Cannot use the ${arch} tiny guest with the guest agent: there is none; it is built from the host's own qemu-ga, so only for the host's architecture (${Deno.build.arch}); use the ${arch} tiny guest without the agent (its console and job channel), or a guest image that has qemu-guest-agent`,
        );
      }
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `Cannot use the ${arch} tiny guest: "${path}" does not exist; run ./scripts/setup.sh, or set VMKIT_CACHE_DIR to the directory it filled`,
        );
      }
      throw error;
    }
  }
  return guest;
}
