/**
 * A `known_hosts` file for one guest, so ssh checks its host key strictly
 * (`StrictHostKeyChecking=yes`) instead of trusting whatever answers.
 *
 * @module
 */

import { parsePublicKeyLine } from "./host_keys.ts";

/**
 * Whom the keys belong to: a host and port (`[127.0.0.1]:2222 ssh-ed25519 AAAA...`), or a
 * `HostKeyAlias` name (`vmkit-web ssh-ed25519 AAAA...`) that ssh looks up whatever host and port
 * it connects to.
 */
export interface KnownHostsOptions {
  /** Host name or address ssh connects to. Default `"127.0.0.1"`. */
  host?: string;
  /** Port ssh connects to. Default 22 (written as the bare host). */
  port?: number;
  /**
   * A name to file the keys under instead of host and port; ssh must then be run with
   * `-o HostKeyAlias=<name>` (as `SshClient` does when given `hostKeyAlias`).
   */
  hostKeyAlias?: string;
}

/**
 * The `known_hosts` lines for a guest's host keys.
 *
 * @param keys Public key lines, such as {@linkcode hostKeysFromConsole} returns.
 * @param options Whom they belong to.
 * @returns One line per key, each ending in a newline.
 * @throws {TypeError} When a key is not a public key line, no key is given, or the name has
 *   spaces, commas or `#`.
 * @throws {RangeError} When the port is not 1 to 65535.
 *
 * @example
 * ```ts
 * import { knownHostsText } from "@vmkit/vmkit";
 * const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICHyGePmo7DDvOXzglIjQZDpm5XSF90YNlyxq7n+NB+F root@vm";
 * console.log(knownHostsText([key], { port: 2222 }));
 * // [127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICHyGePmo7DDvOXzglIjQZDpm5XSF90YNlyxq7n+NB+F
 * ```
 */
export function knownHostsText(keys: readonly string[], options: KnownHostsOptions = {}): string {
  const name = knownHostName(options);
  if (keys.length === 0) {
    throw new TypeError(`Cannot write known hosts for ${name}: no host key given`);
  }
  return keys.map((line, i) => {
    const parsed = parsePublicKeyLine(line);
    if (parsed === undefined) {
      throw new TypeError(
        `Cannot write known hosts for ${name}: key ${i} ${
          JSON.stringify(line)
        } is not a public key line ("type base64 [comment]")`,
      );
    }
    return `${name} ${parsed.type} ${parsed.key}\n`;
  }).join("");
}

/**
 * Writes a `known_hosts` file (mode 0600) with a guest's host keys, replacing the file.
 *
 * @param path Where to write it; ssh reads it through `-o UserKnownHostsFile=<path>`.
 * @param keys Public key lines, such as {@linkcode hostKeysFromConsole} returns.
 * @param options Whom they belong to.
 * @returns Nothing, once written.
 * @throws {TypeError} As {@linkcode knownHostsText} does.
 *
 * @example
 * ```ts
 * import type { Vm } from "@vmkit/vmkit";
 * declare const vm: Vm;
 * import { hostKeysFromConsole, writeKnownHosts } from "@vmkit/vmkit";
 * await writeKnownHosts(`${vm.runtimeDir}/known_hosts`, hostKeysFromConsole(vm.console.transcript), {
 *   hostKeyAlias: "vmkit-web",
 * });
 * ```
 */
export async function writeKnownHosts(
  path: string,
  keys: readonly string[],
  options: KnownHostsOptions = {},
): Promise<void> {
  await Deno.writeTextFile(path, knownHostsText(keys, options), { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** The name the keys are filed under, checked. */
function knownHostName(options: KnownHostsOptions): string {
  if (options.hostKeyAlias !== undefined) {
    if (!/^[^\s,#*?!\[\]]+$/.test(options.hostKeyAlias)) {
      throw new TypeError(
        `Cannot write known hosts for alias ${
          JSON.stringify(options.hostKeyAlias)
        }: use a name without spaces, commas, brackets, wildcards or "#"`,
      );
    }
    return options.hostKeyAlias;
  }
  const host = options.host ?? "127.0.0.1";
  if (!/^[^\s,#*?!\[\]]+$/.test(host)) {
    throw new TypeError(
      `Cannot write known hosts for host ${
        JSON.stringify(host)
      }: use a host name or address without spaces, commas, brackets, wildcards or "#"`,
    );
  }
  const port = options.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot write known hosts for port ${port}: use a port from 1 to 65535`);
  }
  return port === 22 ? host : `[${host}]:${port}`;
}
