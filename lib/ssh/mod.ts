/**
 * SSH into guests through the system `ssh` client (Debian's openssh-client): a fresh ed25519 key
 * per VM, the guest's host keys learned from cloud-init's console output into a known_hosts
 * file (checked strictly, never turned off), the host port of a user-network forward read back
 * from QEMU (forward port 0 and the OS picks a free one), and a client that runs commands over
 * one multiplexed connection, opens interactive shells, and prints the line to paste.
 *
 * @example Log into the Debian guest with a seed carrying a fresh key
 * ```ts
 * import { debianGuest, image, vm } from "@vmkit/vmkit";
 * const debian = await debianGuest();
 * await image.create("/tmp/vm1.qcow2", { backing: debian.image });
 * await using guest = await vm({ arch: "x86_64" }).memory("1G")
 *   .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
 *   .drive("/tmp/vm1.qcow2")
 *   .cloudInit() // user "vmkit" with the VM's key, and a host key vmkit made
 *   .ssh() // a forward from a free host port, known_hosts written before boot
 *   .launch();
 * await guest.ready({ stages: ["ssh"], timeout: 300_000 });
 * console.log((await guest.ssh.exec("id -un")).stdout, guest.ssh.command());
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export { generateSshKey, type GenerateSshKeyOptions, type SshKey } from "./key.ts";
export { hostKeysFromConsole, parsePublicKeyLine, type PublicKeyLine } from "./host_keys.ts";
export { type KnownHostsOptions, knownHostsText, writeKnownHosts } from "./known_hosts.ts";
export {
  forwardedPort,
  type ForwardedPortOptions,
  type UsernetForward,
  usernetForwards,
} from "./forwarded_port.ts";
export {
  SshClient,
  type SshClientOptions,
  type SshExecOptions,
  type SshExecResult,
  type SshShellOptions,
} from "./client.ts";
