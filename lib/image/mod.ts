/**
 * Disk images, typed: create images and overlays, read their info and backing chain, resize,
 * convert with progress, check and repair, take offline snapshots (all with `qemu-img`, from
 * Debian's `qemu-utils`), and download base images into a cache verified by digest.
 *
 * @example Make an overlay over a base image and grow it
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.create("base.qcow2", { size: "2G" });
 * await image.create("vm.qcow2", { backing: "base.qcow2" }); // records -F qcow2
 * await image.resize("vm.qcow2", "+8G");
 * const info = await image.info("vm.qcow2");
 * console.log(info.virtualSize, info.backing, info.chain.map((layer) => layer.format));
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export { createImage as create, type CreateImageOptions, type Preallocation } from "./create.ts";
export {
  type ImageBacking,
  type ImageInfo,
  imageInfo as info,
  type ImageInfoOptions,
  type ImageLayer,
  type ImageSnapshot,
  parseImageInfo,
} from "./info.ts";
export { resizeImage as resize, type ResizeImageOptions } from "./resize.ts";
export {
  type ConvertFormat,
  convertImage as convert,
  type ConvertImageOptions,
  type ConvertProgress,
} from "./convert.ts";
export { checkImage as check, type CheckImageOptions, type ImageCheckResult } from "./check.ts";
export * as snapshot from "./snapshot.ts";
export { listSnapshots as snapshots } from "./snapshot.ts";
export { fetchImage as fetch, type FetchImageOptions, type FetchImageProgress } from "./fetch.ts";
