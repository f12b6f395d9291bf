/**
 * SSH into guests through the system `ssh` client (Debian's openssh-client): a fresh ed25519 key
 * per VM, the guest's host keys learned from cloud-init's console output into a known_hosts
 * file (checked strictly, never turned off), the host port of a user-network forward read back
 * from QEMU (forward port 0 and the OS picks a free one), and a client that runs commands over
 * one multiplexed connection, opens interactive shells, and prints the line to paste.
 *
 * @example Log into a guest booted with a NoCloud seed carrying the key
 * ```ts ignore
 * import {
 *   forwardedPort, generateSshKey, hostKeysFromConsole, SshClient, writeKnownHosts,
 * } from "@vmkit/vmkit";
 * const key = await generateSshKey(vm.runtimeDir); // key.publicKey goes into the seed
 * // ... boot with forwards: [{ hostPort: 0, guestPort: 22 }] ...
 * const port = await forwardedPort(vm.qmp, { guestPort: 22 });
 * await vm.console.expect("-----END SSH HOST KEY KEYS-----", { timeout: 300_000 });
 * const knownHostsFile = `${vm.runtimeDir}/known_hosts`;
 * await writeKnownHosts(knownHostsFile, hostKeysFromConsole(vm.console.transcript), {
 *   hostKeyAlias: "vmkit-guest",
 * });
 * await using ssh = new SshClient({
 *   port, user: "debian", identity: key.privateKey, knownHostsFile,
 *   hostKeyAlias: "vmkit-guest", runtimeDir: vm.runtimeDir,
 * });
 * await ssh.waitUntilReady({ timeout: 120_000 });
 * console.log((await ssh.exec("id -un")).stdout, ssh.command());
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
