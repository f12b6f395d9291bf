// SSH into an instance from any process: the key, user and known_hosts its start prepared, the
// forwarded port its start read back, and the guest's host key learned from the console log
// when the seed did not give it. Also scp's command line with the same options.

import { SshClient } from "../ssh/client.ts";
import { hostKeysFromConsole } from "../ssh/host_keys.ts";
import { writeKnownHosts } from "../ssh/known_hosts.ts";
import { optionValue } from "../ssh/_option_value.ts";
import { pathExists } from "../_fs.ts";
import type { InstanceSshLogin } from "./record.ts";

/** The longest directory SshClient keeps its control socket in. */
const CONTROL_DIR_MAX = 70;

/**
 * Writes the instance's known_hosts from cloud-init's host key block in the console log, when
 * the seed did not give the guest its key and the file is not there yet.
 *
 * @returns Whether the known_hosts file exists now.
 */
export async function knowHostKeys(login: InstanceSshLogin, consoleLog: string): Promise<boolean> {
  if (await pathExists(login.knownHostsFile)) return true;
  const text = await Deno.readTextFile(consoleLog).catch(() => "");
  const keys = hostKeysFromConsole(text);
  if (keys.length === 0) return false;
  await writeKnownHosts(login.knownHostsFile, keys, { hostKeyAlias: login.hostKeyAlias });
  return true;
}

/** An ssh client for the instance; it keeps its ControlMaster in the instance's ssh directory. */
export function instanceSshClient(login: InstanceSshLogin, port: number): SshClient {
  const sshDir = login.identity.slice(0, login.identity.lastIndexOf("/"));
  return new SshClient({
    port,
    user: login.user,
    identity: login.identity,
    knownHostsFile: login.knownHostsFile,
    hostKeyAlias: login.hostKeyAlias,
    ...sshDir.length <= CONTROL_DIR_MAX ? { runtimeDir: sshDir } : {},
  });
}

/**
 * scp's arguments (without `scp`) to copy `source` to `target`, either of them `:PATH` for a
 * path in the guest; the options are those of `SshClient`: strict host key checking against the
 * instance's known_hosts, only its key, no ssh configuration read.
 */
export function scpArgs(
  login: InstanceSshLogin,
  port: number,
  source: string,
  target: string,
  options: { recursive?: boolean } = {},
): string[] {
  const remote = (path: string) =>
    path.startsWith(":") ? `${login.user}@127.0.0.1:${path.slice(1)}` : path;
  return [
    "-F",
    "none",
    "-o",
    `IdentityFile=${optionValue(login.identity)}`,
    "-P",
    String(port),
    "-o",
    `UserKnownHostsFile=${optionValue(login.knownHostsFile)}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `HostKeyAlias=${login.hostKeyAlias}`,
    "-o",
    "BatchMode=yes",
    "-q",
    ...options.recursive ? ["-r"] : [],
    "--",
    remote(source),
    remote(target),
  ];
}
