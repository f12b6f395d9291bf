/**
 * Guest tooling: the cpio "newc" writer, the initramfs builder, kernel module resolution, the
 * tiny guest and the Debian guest, the ISO 9660 writer and cloud-init seeds.
 *
 * @module
 */
export * from "./cpio.ts";
export * from "./busybox_applets.ts";
export * from "./default_init.ts";
export * from "./initramfs.ts";
export * from "./modules_alias.ts";
export * from "./modules_dep.ts";
export * from "./tiny_guest.ts";
export * from "./debian_guest.ts";
export * from "./cloud_init_server.ts";
export * from "./vmlinux.ts";
export * from "./iso9660.ts";
export * from "./cloud_init.ts";
