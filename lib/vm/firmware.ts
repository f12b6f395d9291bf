/**
 * UEFI and BIOS firmware found the way libvirt finds it: through QEMU's firmware descriptors
 * (`/usr/share/qemu/firmware/*.json`, overridden by `/etc/qemu/firmware` and then by the user's
 * `$XDG_CONFIG_HOME/qemu/firmware`), never a hard-coded path.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { envVar } from "../_env.ts";

/** One firmware descriptor (QEMU's `docs/interop/firmware.json`), the parts vmkit uses. */
export interface FirmwareDescriptor {
  /** The descriptor file. */
  file: string;
  /** Its description. */
  description: string;
  /** `uefi`, `bios`, `openfirmware`, `uboot`. */
  interfaceTypes: string[];
  /** How QEMU maps it: flash (code and a variable store) or memory (`-bios`). */
  device: "flash" | "memory" | "kernel";
  /** The firmware image (flash code, or the `-bios` file). */
  executable: string;
  /** The variable store template of flash firmware. */
  nvramTemplate?: string;
  /** Architectures and machine type patterns (`pc-q35-*`) it runs on. */
  targets: { architecture: string; machines: string[] }[];
  /** Features: `secure-boot`, `enrolled-keys`, `requires-smm`, `acpi-s3`, `amd-sev`... */
  features: string[];
}

/** Options of {@linkcode firmwareDescriptors}. */
export interface FirmwareDescriptorOptions {
  /**
   * Directories to search, lowest priority first; a file name found in a later one replaces
   * the earlier. Default: `/usr/share/qemu/firmware`, `/etc/qemu/firmware`,
   * `$XDG_CONFIG_HOME/qemu/firmware` (or `~/.config/qemu/firmware`).
   */
  dirs?: string[];
}

function defaultDirs(): string[] {
  const config = envVar("XDG_CONFIG_HOME") ||
    (envVar("HOME") ? `${envVar("HOME")}/.config` : undefined);
  return [
    "/usr/share/qemu/firmware",
    "/etc/qemu/firmware",
    ...config === undefined ? [] : [`${config}/qemu/firmware`],
  ];
}

function parseDescriptor(file: string, text: string): FirmwareDescriptor | undefined {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const mapping = json.mapping as Record<string, unknown> | undefined;
  const device = mapping?.device;
  const executable = device === "flash"
    ? (mapping?.executable as { filename?: unknown } | undefined)?.filename
    : mapping?.filename;
  if (typeof executable !== "string" || (device !== "flash" && device !== "memory")) {
    return undefined;
  }
  const template = (mapping?.["nvram-template"] as { filename?: unknown } | undefined)?.filename;
  return {
    file,
    description: String(json.description ?? ""),
    interfaceTypes: Array.isArray(json["interface-types"])
      ? json["interface-types"].map(String)
      : [],
    device,
    executable,
    ...typeof template === "string" ? { nvramTemplate: template } : {},
    targets: Array.isArray(json.targets)
      ? (json.targets as { architecture?: unknown; machines?: unknown }[]).map((t) => ({
        architecture: String(t.architecture),
        machines: Array.isArray(t.machines) ? t.machines.map(String) : [],
      }))
      : [],
    features: Array.isArray(json.features) ? json.features.map(String) : [],
  };
}

/**
 * Reads QEMU's firmware descriptors, in QEMU's order of preference: by file name, a later
 * directory's file replacing an earlier one of the same name (an empty file hides it).
 *
 * @param options The directories.
 * @returns The descriptors that parse, best first.
 */
export async function firmwareDescriptors(
  options: FirmwareDescriptorOptions = {},
): Promise<FirmwareDescriptor[]> {
  const byName = new Map<string, string>();
  const dirs = options.dirs ?? defaultDirs();
  for (const [index, dir] of dirs.entries()) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.endsWith(".json")) byName.set(entry.name, `${dir}/${entry.name}`);
      }
    } catch (error) {
      // Without the first (QEMU's own) directory there is nothing to choose from: say why.
      // An override directory Deno may not read is skipped.
      if (error instanceof Deno.errors.NotCapable && index === 0) {
        throw new Deno.errors.NotCapable(
          `Cannot read QEMU's firmware descriptors in "${dir}": grant --allow-read=${dir} (and the firmware's own directory, such as /usr/share/OVMF)`,
          { cause: error },
        );
      }
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable)) {
        throw error;
      }
    }
  }
  const descriptors: FirmwareDescriptor[] = [];
  for (const name of [...byName.keys()].sort()) {
    const file = byName.get(name)!;
    const text = await Deno.readTextFile(file);
    const descriptor = text.trim() === "" ? undefined : parseDescriptor(file, text);
    if (descriptor !== undefined) descriptors.push(descriptor);
  }
  return descriptors;
}

/** The machine type patterns a plain alias stands for (`q35` is `pc-q35-7.2` today). */
const ALIASES: Record<string, string> = {
  q35: "pc-q35-",
  pc: "pc-i440fx-",
  virt: "virt-",
};

function matchesMachine(pattern: string, machine: string): boolean {
  const versioned = ALIASES[machine] === undefined ? machine : `${ALIASES[machine]}99.0`;
  const re = new RegExp(
    `^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`,
  );
  return re.test(versioned) || re.test(machine);
}

const QEMU_ARCH: Record<Arch, string> = {
  x86_64: "x86_64",
  aarch64: "aarch64",
  riscv64: "riscv64",
  s390x: "s390x",
  ppc64le: "ppc64",
};

const PACKAGE: Partial<Record<Arch, string>> = {
  x86_64: "ovmf",
  aarch64: "qemu-efi-aarch64",
  riscv64: "qemu-efi-riscv64",
};

/** What firmware to pick. */
export interface FirmwareRequest {
  /** `"uefi"` or `"bios"`. */
  interface: "uefi" | "bios";
  /** A Secure Boot build (`true`), one without (`false`), or either (default). */
  secureBoot?: boolean;
  /** With Secure Boot: the variable store has Microsoft's and the distribution's keys enrolled. */
  enrolledKeys?: boolean;
}

/**
 * Picks the best firmware for a machine from the descriptors.
 *
 * @param descriptors From {@linkcode firmwareDescriptors}.
 * @param arch The guest architecture.
 * @param machine The machine type (`q35`, `pc-q35-7.2`, `virt`).
 * @param request UEFI or BIOS, Secure Boot or not.
 * @returns The descriptor.
 * @throws {Deno.errors.NotFound} When none fits, naming the Debian package to install.
 */
export function selectFirmware(
  descriptors: readonly FirmwareDescriptor[],
  arch: Arch,
  machine: string,
  request: FirmwareRequest,
): FirmwareDescriptor {
  const fits = descriptors.filter((d) =>
    d.interfaceTypes.includes(request.interface) &&
    d.device !== "kernel" &&
    d.targets.some((t) =>
      t.architecture === QEMU_ARCH[arch] && t.machines.some((m) => matchesMachine(m, machine))
    ) &&
    (request.secureBoot === undefined ||
      d.features.includes("secure-boot") === request.secureBoot) &&
    (request.enrolledKeys === undefined ||
      d.features.includes("enrolled-keys") === request.enrolledKeys)
  );
  // Without a wish, a build without Secure Boot is the one that boots anything.
  const best = request.secureBoot === undefined
    ? fits.find((d) => !d.features.includes("secure-boot")) ?? fits[0]
    : fits[0];
  if (best === undefined) {
    const what = `${request.interface}${
      request.secureBoot === true
        ? " with Secure Boot"
        : request.secureBoot === false
        ? " without Secure Boot"
        : ""
    }`;
    const pkg = request.interface === "uefi" ? PACKAGE[arch] : undefined;
    throw new Deno.errors.NotFound(
      `Cannot find ${what} firmware for ${arch} machine "${machine}" in QEMU's firmware descriptors (/usr/share/qemu/firmware, /etc/qemu/firmware, ~/.config/qemu/firmware)${
        pkg === undefined ? "" : `; install it with: apt-get install ${pkg}`
      }`,
    );
  }
  return best;
}
