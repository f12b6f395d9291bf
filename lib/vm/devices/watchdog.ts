/**
 * Hardware watchdogs: a guest that opens the watchdog and stops writing to it (hung, or told
 * to stop) has QEMU act — reset by default — and QMP reports a `WATCHDOG` event.
 *
 * @module
 */

import { defined, type Field, optionalEnum } from "../_validate.ts";
import type { Arch } from "../arch.ts";
import type { DeviceKind } from "./_kind.ts";
import { busOf, type Step } from "./_plan.ts";

/**
 * The watchdog models of QEMU 7.2 for vmkit's architectures: `i6300esb` (Intel 6300ESB, PCI;
 * every architecture with PCI), `ib700` (iBASE 700, ISA; x86_64) and `diag288` (s390x).
 */
export type WatchdogModel = "i6300esb" | "ib700" | "diag288";

/**
 * What QEMU does when the watchdog fires: `reset` (QEMU's default), `shutdown` (an ACPI
 * power-off request the guest may ignore), `poweroff` (QEMU quits), `pause` (the VM stops in
 * the run state `watchdog`), `debug` (a message on QEMU's stderr), `none` or `inject-nmi`.
 */
export type WatchdogAction =
  | "reset"
  | "shutdown"
  | "poweroff"
  | "pause"
  | "debug"
  | "none"
  | "inject-nmi";

/**
 * A watchdog device (Linux drivers: `i6300esb`, `ib700wdt`, `diag288_wdt`; `/dev/watchdog`).
 *
 * @example Pause the VM when the guest stops feeding its watchdog
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const builder = vm({ arch: "x86_64" }).device({ kind: "watchdog", action: "pause" });
 * ```
 */
export interface WatchdogDevice {
  /** The kind of this description: `"watchdog"`. */
  kind: "watchdog";
  /** The model; default `diag288` on s390x, `i6300esb` elsewhere. */
  model?: WatchdogModel;
  /** What QEMU does when it fires; default QEMU's, `reset`. Set when QEMU starts. */
  action?: WatchdogAction;
}

const MODELS: Record<Arch, readonly WatchdogModel[]> = {
  x86_64: ["i6300esb", "ib700"],
  aarch64: ["i6300esb"],
  riscv64: ["i6300esb"],
  ppc64le: ["i6300esb"],
  s390x: ["diag288"],
};

const ACTIONS: readonly WatchdogAction[] = [
  "reset",
  "shutdown",
  "poweroff",
  "pause",
  "debug",
  "none",
  "inject-nmi",
];

/** The watchdog kind. */
export const watchdogKind: DeviceKind<WatchdogDevice> = {
  keys: ["model", "action"],
  single: true,
  parse(v, field: Field, arch) {
    const model = optionalEnum(field("model"), v.model, ["i6300esb", "ib700", "diag288"]);
    const models = MODELS[arch.arch];
    if (model !== undefined && !models.includes(model)) {
      throw new TypeError(
        `Cannot add watchdog "${model}" on ${arch.arch}: QEMU has ${
          models.map((m) => `"${m}"`).join(" and ")
        } there`,
      );
    }
    return defined({
      kind: "watchdog" as const,
      model,
      action: optionalEnum(field("action"), v.action, ACTIONS),
    });
  },
  plan(device, ctx) {
    const model = device.model ?? MODELS[ctx.arch.arch][0];
    if (model === "i6300esb" && ctx.transport === "mmio") {
      throw new TypeError(
        `Cannot add watchdog "i6300esb": machine "${ctx.machine}" has no PCI bus for it; use model "ib700"`,
      );
    }
    const steps: Step[] = [{
      kind: "device",
      args: { driver: model, id: "vmkit-watchdog", ...model === "i6300esb" ? busOf(ctx) : {} },
    }];
    if (device.action !== undefined) {
      steps.push({
        kind: "arg",
        argv: ["-action", `watchdog=${device.action}`],
        why:
          "the watchdog's action is set when QEMU starts (on a running VM, use QMP watchdog-set-action)",
      });
    }
    return steps;
  },
  // One per VM: a second in a JSON description clashes here.
  ids: () => ["vmkit-watchdog"],
};
