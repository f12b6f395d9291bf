/**
 * QEMU user-mode emulators downloaded from an Alpine Linux repository, for machines without
 * Debian's qemu-user-static: the index parser, the multi-member gzip splitter of `.apk` files,
 * and the verified, cached download.
 *
 * @example Download qemu-riscv64 and run a binary with it
 * ```ts
 * import { emulators, runForeign } from "@vmkit/vmkit";
 * const qemu = await emulators.fetch("riscv64");
 * await runForeign("./hello-riscv64", [], { emulator: qemu.path });
 * ```
 *
 * @module
 */
export * from "./apk_index.ts";
export { fetchEmulator as fetch } from "./fetch.ts";
export * from "./fetch.ts";
export * from "./gzip_members.ts";
