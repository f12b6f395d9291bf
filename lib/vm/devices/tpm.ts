/**
 * A TPM, emulated by swtpm beside QEMU: vmkit starts swtpm in the VM's runtime directory before
 * QEMU and stops it when the VM is released; swtpm also exits on its own when QEMU does.
 *
 * @module
 */

import { checkPath } from "../_checks.ts";
import { defined, type Field, optionalEnum } from "../_validate.ts";
import { socketChardev } from "./chardev.ts";
import type { DeviceKind } from "./_kind.ts";
import type { PlanContext } from "./_plan.ts";
import { startSwtpm, SWTPM_SOCKET } from "./_swtpm.ts";

/**
 * A TPM (`.device({ kind: "tpm" })`), emulated by swtpm (`apt-get install swtpm`; Deno needs
 * `--allow-run=swtpm`). The device is `tpm-crb` (TPM 2.0) or `tpm-tis` (1.2) on x86_64 q35 and
 * pc, `tpm-tis-device` on aarch64 and riscv64 virt, `tpm-spapr` on ppc64le pseries. No firmware
 * is needed: Linux starts the TPM itself (TPM2_Startup) when nothing did before it.
 *
 * On x86_64 under SeaBIOS (QEMU's default firmware: the classic profile, or a machine type other
 * than the fast profile's q35), QEMU 7.2 loads a direct-boot initrd over the ACPI tables that
 * the TPM's event log pushes down, and the guest boots without ACPI: boot such a guest from a
 * disk, or with qboot (the fast profile on q35, or
 * `.firmware({ bios: "/usr/share/qemu/qboot.rom" })`).
 *
 * @example
 * ```ts
 * import { tinyGuest, vm } from "@vmkit/vmkit";
 * const { kernel, initrd } = await tinyGuest("x86_64");
 * await using machine = await vm({ arch: "x86_64" }).kernel(kernel, { initrd })
 *   .device({ kind: "tpm", statePath: "./my-tpm" })
 *   .launch();
 * await machine.console.exec("cat /sys/class/tpm/tpm0/tpm_version_major"); // "2"
 * ```
 */
export interface TpmDevice {
  /** The kind of this description: `"tpm"`. */
  kind: "tpm";
  /** The TPM version. Default `"2.0"`. */
  version?: "2.0" | "1.2";
  /**
   * A directory that keeps the TPM's state (its seeds, keys and NV indices) across VMs; made if
   * missing (its parent must exist), never removed. Two VMs cannot use one at the same time.
   * Default: a fresh TPM in the runtime directory, gone with the VM.
   */
  statePath?: string;
}

const TPMDEV = "vmkit-tpm";
const CHARDEV = "vmkit-tpm-chr";

/** The TPM device model of the machine, or why it has none. */
function tpmModel(device: TpmDevice, ctx: PlanContext): string {
  const { arch } = ctx.arch;
  const machine = ctx.machine;
  const refuse = (has: string): never => {
    throw new TypeError(`Cannot add a TPM to machine "${machine}" (${arch}): ${has}`);
  };
  switch (arch) {
    case "x86_64":
      if (machine === "q35" || machine === "pc" || machine.startsWith("pc-")) {
        // The CRB interface is TPM 2.0's; a TPM 1.2 speaks TIS.
        return (device.version ?? "2.0") === "2.0" ? "tpm-crb" : "tpm-tis";
      }
      // microvm takes tpm-tis and tpm-crb, but its ACPI tables lack the TPM2 table Linux needs.
      return refuse('a TPM works on "q35" and "pc" only');
    case "aarch64":
    case "riscv64":
      if (machine.startsWith("virt")) return "tpm-tis-device";
      return refuse('QEMU has a TPM (tpm-tis-device) for "virt" only');
    case "ppc64le":
      if (machine.startsWith("pseries")) return "tpm-spapr";
      return refuse('QEMU has a TPM (tpm-spapr) for "pseries" only');
    case "s390x":
      return refuse("QEMU has no TPM for s390x");
  }
}

/** The TPM kind: the socket chardev to swtpm, the emulator backend, the machine's TPM device. */
export const tpmKind: DeviceKind<TpmDevice> = {
  keys: ["version", "statePath"],
  single: true,
  parse(v, field: Field, arch) {
    if (arch.arch === "s390x") {
      throw new TypeError("Cannot add a TPM: QEMU has no TPM device for s390x");
    }
    return defined({
      kind: "tpm" as const,
      version: optionalEnum(field("version"), v.version, ["2.0", "1.2"]),
      statePath: v.statePath === undefined
        ? undefined
        : checkPath(field("statePath"), v.statePath as string),
    });
  },
  plan(device, ctx) {
    const driver = tpmModel(device, ctx);
    return [
      socketChardev(CHARDEV, `${ctx.runtimeDir}/${SWTPM_SOCKET}`, { server: false }),
      {
        kind: "arg",
        argv: ["-tpmdev", `emulator,id=${TPMDEV},chardev=${CHARDEV}`],
        why: "a TPM is attached when the VM starts (QEMU cannot hot-add a TPM backend)",
      },
      { kind: "device", args: { driver, tpmdev: TPMDEV } },
    ];
  },
  prepare(device, runtimeDir) {
    return startSwtpm(runtimeDir, {
      version: device.version ?? "2.0",
      ...device.statePath === undefined ? {} : { statePath: device.statePath },
    });
  },
};
