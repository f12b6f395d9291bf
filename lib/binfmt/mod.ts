/**
 * binfmt_misc and QEMU user-mode emulation: the target table, entries and their registration
 * strings, the kernel's entries (list, register, unregister, enable, disable, reset), checks
 * that foreign binaries really run, persistent configuration for systemd and Debian, and
 * running one foreign binary without root.
 *
 * @example Register aarch64 and prove it works
 * ```ts
 * import { binfmt } from "@vmkit/vmkit";
 * await binfmt.register(binfmt.entry("aarch64", { qemuSuffix: "-static", persistent: true }));
 * console.log((await binfmt.check("aarch64")).state); // "working"
 * ```
 *
 * @module
 */
export * from "./check.ts";
export * from "./elf.ts";
export * from "./entry.ts";
export * from "./entry_status.ts";
export * from "./errors.ts";
export * from "./export.ts";
export * from "./interpreter.ts";
export * from "./kernel.ts";
export * from "./mount.ts";
export * from "./probe_elf.ts";
export * from "./register_emulators.ts";
export * from "./registration_string.ts";
export * from "./run_foreign.ts";
export * from "./targets.ts";
