/**
 * The QEMU guest agent client: run programs in the guest, move files, read its OS and
 * network, freeze its filesystems, shut it down — through `qemu-ga` over a virtio-serial
 * port, typed from the agent's own reference manual.
 *
 * @example
 * ```ts
 * import { tinyGuest, vm } from "@vmkit/vmkit";
 * const g = await tinyGuest("x86_64");
 * await using guest = await vm({ arch: "x86_64" }).kernel(g.kernel, { initrd: g.initrd })
 *   .guestAgent().launch();
 * const { exitCode, stdout } = await guest.agent.exec(["uname", "-r"]);
 * ```
 *
 * @module
 */
export * from "./client.ts";
export { AgentPort } from "./agent_port.ts";
export * from "./errors.ts";
export { type AgentExecOptions, type AgentExecResult, signalName } from "./exec.ts";
export type { AgentFileOptions, AgentWriteOptions } from "./files.ts";
export * from "./qga.ts";
