/**
 * A fresh ed25519 key pair for logging into one VM, made by `ssh-keygen`.
 *
 * @module
 */

import { programOutput } from "../_command.ts";
import { pathExists } from "../_fs.ts";
import { shellQuote } from "../vm/qemu_opts.ts";

/** A key pair on disk. */
export interface SshKey {
  /** Path of the private key (mode 0600): pass it to ssh's `-i`. */
  privateKey: string;
  /**
   * The public key as one `authorized_keys` line, `ssh-ed25519 AAAA... comment`, with no
   * newline: hand it to the guest (a cloud-init user's `ssh_authorized_keys`).
   */
  publicKey: string;
}

/** Options of {@linkcode generateSshKey}. */
export interface GenerateSshKeyOptions {
  /** The key's comment, at the end of the public key line. Default `"vmkit"`. */
  comment?: string;
  /** File name of the private key in `dir`; the public key gets `.pub` after it. Default `"id_ed25519"`. */
  name?: string;
}

/**
 * Makes a new ed25519 key pair without a passphrase in `dir`, with
 * `ssh-keygen -t ed25519 -N "" -q`.
 *
 * @param dir An existing directory, such as a VM's private runtime directory.
 * @param options The key's comment and file name.
 * @returns The private key's path and the public key line.
 * @throws {Deno.errors.NotFound} When `dir` does not exist (it is not made).
 * @throws {TypeError} When `dir` is not a directory.
 * @throws {Deno.errors.AlreadyExists} When the key file is there already (it is never replaced).
 * @throws {Deno.errors.NotFound} When `ssh-keygen` is not installed (Debian's openssh-client).
 * @throws {Error} When ssh-keygen fails: the message has what it said.
 *
 * @example
 * ```ts
 * import { generateSshKey } from "@vmkit/vmkit";
 * const dir = await Deno.makeTempDir();
 * const key = await generateSshKey(dir, { comment: "vmkit@test" });
 * console.log(key.publicKey); // ssh-ed25519 AAAA... vmkit@test
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function generateSshKey(
  dir: string,
  options: GenerateSshKeyOptions = {},
): Promise<SshKey> {
  const comment = options.comment ?? "vmkit";
  const name = options.name ?? "id_ed25519";
  if (/[\r\n]/.test(comment)) {
    throw new TypeError(
      `Cannot generate an ssh key with comment ${JSON.stringify(comment)}: use one line`,
    );
  }
  if (name === "" || name.includes("/") || name === "." || name === "..") {
    throw new TypeError(
      `Cannot generate an ssh key named ${JSON.stringify(name)}: use a file name without "/"`,
    );
  }
  await checkKeyDir(dir);
  const privateKey = `${dir}/${name}`;
  for (const path of [privateKey, `${privateKey}.pub`]) {
    if (await pathExists(path)) {
      throw new Deno.errors.AlreadyExists(
        `Cannot generate an ssh key at "${path}": the file exists; remove it or pick another name`,
      );
    }
  }
  const argv = ["-t", "ed25519", "-N", "", "-q", "-C", comment, "-f", privateKey];
  const output = await programOutput("ssh-keygen", {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    missing:
      "Cannot generate an ssh key: ssh-keygen is not installed; install Debian's openssh-client",
  });
  if (!output.success) {
    const said = new TextDecoder().decode(output.stderr).trim() ||
      `it exited with code ${output.code}`;
    throw new Error(
      `Cannot generate an ssh key at "${privateKey}": ssh-keygen: ${said}\nargv: ssh-keygen ${
        argv.map(shellQuote).join(" ")
      }`,
    );
  }
  await Deno.chmod(privateKey, 0o600);
  const publicKey = (await Deno.readTextFile(`${privateKey}.pub`)).trim();
  return { privateKey, publicKey };
}

/** Refuses a key directory that is missing or a file, which ssh-keygen reports only as a failed save. */
async function checkKeyDir(dir: string): Promise<void> {
  const info = await Deno.stat(dir).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Deno.errors.NotFound(
      `Cannot generate an ssh key in "${dir}": the directory does not exist; create it first`,
    );
  });
  if (!info.isDirectory) {
    throw new TypeError(
      `Cannot generate an ssh key in "${dir}": it is not a directory; give the directory to keep the key in`,
    );
  }
}
