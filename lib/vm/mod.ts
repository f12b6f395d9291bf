/**
 * The VM builder, launching, the running VM and its console.
 *
 * @module
 */
export * from "./accel.ts";
export * from "./arch.ts";
export * from "./builder.ts";
export * from "./console.ts";
export * from "./errors.ts";
export * from "./launch.ts";
export * from "./probe.ts";
export * from "./qemu_opts.ts";
export * from "./size.ts";
export * from "./vm.ts";
