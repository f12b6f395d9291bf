/**
 * SSH into the guest: a key pair made for the VM at launch (or yours), and a host key the
 * cloud-init seed gives the guest, so `vm.ssh` checks the guest strictly from its first
 * connection. The connection goes through a user-network host forward to guest port 22
 * (`.ssh()` adds one on a free host port).
 *
 * @module
 */

import { checkPath } from "../_checks.ts";
import { defined, optionalString } from "../_validate.ts";
import type { DeviceKind, LaunchFacts } from "./_kind.ts";
import { generateSshKey, type GenerateSshKeyOptions, type SshKey } from "../../ssh/key.ts";

/** The key pair in `dir` when both its files are there (a restarted instance), else a new one. */
async function keptOrNewKey(dir: string, options: GenerateSshKeyOptions): Promise<SshKey> {
  const privateKey = `${dir}/${options.name ?? "id_ed25519"}`;
  try {
    const publicKey = (await Deno.readTextFile(`${privateKey}.pub`)).trim();
    await Deno.stat(privateKey);
    return { privateKey, publicKey };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return await generateSshKey(dir, options);
}
import type { NetworkDescription } from "./network.ts";

/** SSH into the guest (`.ssh()`); `vm.ssh` runs commands and shells. */
export interface SshDevice {
  /** The kind of this description: `"ssh"`. */
  kind: "ssh";
  /**
   * The user to log in as. Default `"vmkit"`: a user the cloud-init seed makes, with the VM's
   * key and passwordless sudo (the seed's user-data must then be an object). Another name gets
   * the key as the image's default user (cloud-init meta-data `public-keys`), so it should be
   * that user: `debian` on Debian's images, `ubuntu` on Ubuntu's.
   */
  user?: string;
  /**
   * A private key to log in with, instead of a new one made for the VM; its public key is
   * `<identity>.pub`. The seed gives it to the guest, as it would a new key.
   */
  identity?: string;
}

/** The user `.ssh()` logs in as by default, which the seed makes. */
export const VMKIT_SSH_USER = "vmkit";
/** The directory of the VM's keys in its runtime directory. */
export const SSH_DIR = "ssh";
/** The known_hosts file in {@linkcode SSH_DIR}. */
export const KNOWN_HOSTS = "known_hosts";
/** The name the guest's host key is filed under, whatever port it is reached on. */
export const HOST_KEY_ALIAS = "vmkit-guest";

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * The networks with a forward from a free host port to guest port 22: unchanged when a user
 * network forwards one already, else added to the first user network, else on a new one.
 *
 * @param networks The VM's networks.
 * @returns The networks `.ssh()` gives the VM.
 */
export function withSshForward(networks: readonly NetworkDescription[]): NetworkDescription[] {
  const forward = { hostPort: 0, guestPort: 22 };
  const forwarded = networks.some((n) =>
    n.type === "user" && (n.forwards ?? []).some((f) => f.guestPort === 22)
  );
  if (forwarded) return [...networks];
  const at = networks.findIndex((n) => n.type === "user");
  if (at < 0) return [...networks, { type: "user", forwards: [forward] }];
  return networks.map((n, i) =>
    i === at && n.type === "user" ? { ...n, forwards: [...n.forwards ?? [], forward] } : n
  );
}

/** The ssh kind. */
export const sshKind: DeviceKind<SshDevice> = {
  keys: ["user", "identity"],
  single: true,
  parse(v, field) {
    const user = optionalString(field("user"), v.user);
    if (user !== undefined && !USER.test(user)) {
      throw new TypeError(
        `Cannot set ${field("user")} to ${
          JSON.stringify(user)
        }: use a Linux user name (lower-case letters, digits, "_" and "-", at most 32)`,
      );
    }
    const identity = optionalString(field("identity"), v.identity);
    if (identity !== undefined) checkPath(field("identity"), identity);
    return defined({ kind: "ssh" as const, user, identity });
  },
  plan() {
    // Nothing on the command line: the forward is the user network's, the key the seed's.
    return [];
  },
  inputs(device) {
    if (device.identity === undefined) return [];
    return [
      {
        what: "ssh identity",
        path: device.identity,
        hint: "give a private key file, such as ~/.ssh/id_ed25519, or leave identity out",
        expect: "file",
      },
      {
        what: "ssh identity's public key",
        path: `${device.identity}.pub`,
        hint: "put the public key beside the private key (ssh-keygen -y -f KEY > KEY.pub)",
        expect: "file",
      },
    ];
  },
  async prepare(device, runtimeDir, _index, facts: LaunchFacts) {
    const dir = `${runtimeDir}/${SSH_DIR}`;
    // A background instance starts again in the directory of its last start: its keys are
    // kept, so the guest, which kept what the seed gave it at its first boot, lets the same key
    // in with the same host key (and the seed, unchanged, keeps its instance-id).
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const login = device.identity === undefined ? await keptOrNewKey(dir, { comment: "vmkit" }) : {
      privateKey: device.identity,
      publicKey: (await Deno.readTextFile(`${device.identity}.pub`)).trim(),
    };
    const host = await keptOrNewKey(dir, { name: "ssh_host_ed25519_key", comment: "vmkit-host" });
    facts.ssh = {
      privateKey: login.privateKey,
      publicKey: login.publicKey,
      user: device.user ?? VMKIT_SSH_USER,
      hostKey: {
        privateKey: await Deno.readTextFile(host.privateKey),
        publicKey: host.publicKey,
      },
    };
    // The keys are in the runtime directory, removed with it.
    return { what: "ssh keys", stop: () => Promise.resolve() };
  },
};
