/**
 * Guest tooling: the cpio "newc" writer, the initramfs builder, kernel module resolution, the
 * tiny guest and the Debian guest, the ISO 9660 writer and cloud-init seeds.
 *
 * @example Build an initramfs with one more program and boot it
 * ```ts
 * import { initramfs, tinyGuest, vm } from "@vmkit/vmkit";
 * const g = await tinyGuest("x86_64");
 * const image = await initramfs().busybox(g.busybox)
 *   .file("/etc/motd", "built by vmkit\n")
 *   .executable("/usr/bin/jq") // copied with its loader and libraries
 *   .build();
 * await Deno.writeFile("/tmp/initrd.img", image);
 * await using guest = await vm({ arch: "x86_64" }).kernel(g.kernel, { initrd: "/tmp/initrd.img" })
 *   .launch();
 * console.log((await guest.console.exec("cat /etc/motd")).output);
 * ```
 *
 * @example Write a NoCloud seed for a cloud image
 * ```ts
 * import { cloudInit } from "@vmkit/vmkit";
 * await cloudInit({
 *   userData: { users: [{ name: "me", ssh_authorized_keys: ["ssh-ed25519 AAAA... me"] }] },
 *   metaData: { "instance-id": "vm1", "local-hostname": "vm1" },
 * }).write("/tmp/seed.iso"); // attach as a read-only virtio disk
 * ```
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
