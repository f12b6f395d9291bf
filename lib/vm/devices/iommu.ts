/**
 * A virtual IOMMU: DMA remapping for the guest, as passthrough (vfio) devices need to be used
 * by guest userspace drivers (DPDK, SPDK, nested VFIO).
 *
 * @module
 */

import { checkEnum, type Field } from "../_validate.ts";
import { isPcie } from "../machine.ts";
import type { DeviceKind } from "./_kind.ts";

/**
 * A virtual IOMMU (one per VM).
 *
 * - `"intel"`: Intel VT-d (`intel-iommu`), on q35 only. Written with `caching-mode=on`, which
 *   passthrough devices need. Interrupt remapping is QEMU's choice: on under TCG, and under
 *   KVM only with a split irqchip, `.machine("q35", { "kernel-irqchip": "split" })`.
 * - `"virtio"`: `virtio-iommu-pci`, on q35 and on aarch64's virt machine; the guest kernel
 *   needs `CONFIG_VIRTIO_IOMMU`.
 */
export interface IommuDevice {
  /** The kind of this description: `"iommu"`. */
  kind: "iommu";
  /** `"intel"` (q35) or `"virtio"` (q35, aarch64 virt). */
  model: "intel" | "virtio";
}

/** The iommu kind. */
export const iommuKind: DeviceKind<IommuDevice> = {
  keys: ["model"],
  single: true,
  early: true,
  parse(v, field: Field, arch) {
    const model = checkEnum(field("model"), v.model, ["intel", "virtio"]);
    if (model === "intel" && arch.arch !== "x86_64") {
      throw new TypeError(
        `Cannot add iommu model "intel" on ${arch.arch}: Intel VT-d is x86_64's${
          arch.arch === "aarch64" ? `; use model "virtio"` : ""
        }`,
      );
    }
    if (model === "virtio" && arch.arch !== "x86_64" && arch.arch !== "aarch64") {
      throw new TypeError(
        `Cannot add iommu model "virtio" on ${arch.arch}: QEMU 7.2 plugs virtio-iommu only into x86_64's q35 and aarch64's virt machines`,
      );
    }
    return { kind: "iommu", model };
  },
  plan(device, ctx) {
    // q35 (x86_64) or virt (aarch64): parse refused the other architectures.
    if (!isPcie(ctx.arch, ctx.machine)) {
      throw new TypeError(
        `Cannot add iommu model "${device.model}" on machine "${ctx.machine}": ${
          device.model === "intel" ? "intel-iommu" : "virtio-iommu"
        } needs ${ctx.arch.arch === "x86_64" ? `machine "q35"` : `machine "virt"`}`,
      );
    }
    const args = device.model === "intel"
      ? { driver: "intel-iommu", "caching-mode": true }
      : { driver: "virtio-iommu-pci" };
    return [{
      kind: "arg",
      argv: ["-device", JSON.stringify(args)],
      why: "an IOMMU must exist before the devices it translates for",
    }];
  },
};
