/**
 * Display adapters and the VNC server, so `Vm.screendump` has a screen to save and a viewer can
 * watch. No window ever opens.
 *
 * @module
 */

import { optionalBoolean, optionalEnum } from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import type { DeviceKind } from "./_kind.ts";
import type { Step } from "./_plan.ts";

/** A display adapter (`.display()`, `.vga()`). */
export interface DisplayDevice {
  /** The kind of this description: `"display"`. */
  kind: "display";
  /**
   * `"std"`: the standard VGA (x86_64 only); `"virtio"`: virtio-gpu. Default `"std"` on x86_64,
   * `"virtio"` elsewhere.
   */
  adapter?: "std" | "virtio";
  /** Serve the screen over VNC on the unix socket `vnc.sock` in the VM's runtime directory. */
  vnc?: boolean;
}

/** The display kind. */
export const displayKind: DeviceKind<DisplayDevice> = {
  keys: ["adapter", "vnc"],
  single: true,
  parse(v, field, arch) {
    if (arch.arch === "s390x") {
      throw new TypeError("Cannot add a display adapter: QEMU has none for s390x");
    }
    const adapter = optionalEnum(field("adapter"), v.adapter, ["std", "virtio"]);
    if (adapter === "std" && arch.arch !== "x86_64") {
      throw new TypeError(
        `Cannot add display adapter "std" on ${arch.arch}: the standard VGA is x86_64's; use "virtio"`,
      );
    }
    const vnc = optionalBoolean(field("vnc"), v.vnc);
    return {
      kind: "display",
      ...adapter === undefined ? {} : { adapter },
      ...vnc === undefined ? {} : { vnc },
    };
  },
  plan(device, ctx) {
    const adapter = device.adapter ?? (ctx.arch.arch === "x86_64" ? "std" : "virtio");
    const steps: Step[] = [{
      kind: "device",
      args: { driver: adapter === "std" ? "VGA" : virtioDriver(ctx.transport, "gpu") },
    }];
    if (device.vnc) {
      steps.push({
        kind: "arg",
        argv: ["-vnc", `unix:${ctx.runtimeDir}/vnc.sock`],
        why: "a VNC server is started with the VM",
      });
    }
    return steps;
  },
};
