// What `vmkit seed` does, loaded only when it runs: read the files cloud-localds takes, put the
// SSH keys and host name into the meta-data, and write the NoCloud or ConfigDrive ISO.

import { load } from "npm:js-yaml@^5.5.0";
import { cloudInit, type CloudInitSeed, configDrive } from "../guest/cloud_init.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { cliErrorOf } from "./_library_errors.ts";

/** The flags of `vmkit seed`. */
export interface SeedFlags {
  userData?: string;
  metaData?: string;
  networkConfig?: string;
  vendorData?: string;
  sshKey: string[];
  hostname?: string;
  format: "nocloud" | "configdrive";
  diskFormat?: "raw";
  filesystem?: "iso9660" | "iso";
  overwrite?: boolean;
}

/** Where the user-data and meta-data files come from: flag or cloud-localds's operand. */
interface SeedSources {
  /** `--user-data` or `user-data` (the operand), for messages. */
  userDataName: string;
  /** `--meta-data` or `meta-data` (the operand), for messages. */
  metaDataName: string;
}

/** An SSH public key's first word: its type. */
const KEY_TYPE = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+@openssh\.com)\s/;

async function readText(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(
      `Cannot read ${flag} "${path}": ${
        error instanceof Deno.errors.NotFound ? "the file does not exist" : (error as Error).message
      }`,
      error instanceof Deno.errors.NotFound ? EXIT.usage : EXIT.failure,
      { cause: error },
    );
  }
}

/** A YAML (or JSON) mapping from a file. */
async function readMapping(flag: string, path: string): Promise<Record<string, unknown>> {
  const text = await readText(flag, path);
  let data: unknown;
  try {
    data = text.trim() === "" ? {} : load(text);
  } catch (error) {
    throw new CliError(
      `Cannot read ${flag} "${path}": it is not YAML: ${(error as Error).message.split("\n")[0]}`,
      EXIT.usage,
      { cause: error },
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new CliError(
      `Cannot read ${flag} "${path}": it must be a YAML mapping (key: value lines)`,
      EXIT.usage,
    );
  }
  return data as Record<string, unknown>;
}

/** A key given as its text, or as the path of a `.pub` file. */
async function sshKey(value: string): Promise<string> {
  if (KEY_TYPE.test(value.trim() + " ")) return value.trim();
  const text = (await readText("--ssh-key", value)).trim();
  const lines = text.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
  if (lines.length !== 1 || !KEY_TYPE.test(`${lines[0].trim()} `)) {
    throw new CliError(
      `Cannot use --ssh-key "${value}": it holds no single SSH public key (a line like "ssh-ed25519 AAAA... me@host"); give the .pub file, not the private key`,
      EXIT.usage,
    );
  }
  return lines[0].trim();
}

/** Where a network configuration keeps its settings: at the top, or under `network:`. */
function networkSettings(data: Record<string, unknown>): Record<string, unknown> {
  const inner = data.network;
  return typeof inner === "object" && inner !== null && !Array.isArray(inner)
    ? inner as Record<string, unknown>
    : data;
}

/**
 * NoCloud's network-config as text, once it reads as one: cloud-init's network config version 1
 * or 2 (`version: 1|2`, maybe under `network:`), or `config: disabled`.
 */
async function networkConfigText(path: string): Promise<string> {
  const settings = networkSettings(await readMapping("--network-config", path));
  if (settings.config !== "disabled" && settings.version !== 1 && settings.version !== 2) {
    throw new CliError(
      `Cannot use --network-config "${path}": it is not a cloud-init network config, which has version: 1 or 2 (maybe under network:) or config: disabled${
        settings.version === undefined ? "" : `, not version: ${JSON.stringify(settings.version)}`
      }`,
      EXIT.usage,
    );
  }
  return await readText("--network-config", path);
}

/** ConfigDrive's network_data.json: OpenStack's links, networks and services. */
async function networkData(path: string): Promise<Record<string, unknown>> {
  const data = await readMapping("--network-config", path);
  if (!["links", "networks", "services"].some((key) => key in data)) {
    throw new CliError(
      `Cannot use --network-config "${path}" for a ConfigDrive: it is not OpenStack network_data, which has links, networks and services`,
      EXIT.usage,
    );
  }
  return data;
}

async function buildSeed(flags: SeedFlags, sources: SeedSources): Promise<CloudInitSeed> {
  // --format, --disk-format and --filesystem are commander's choices: checked already.
  const userData = flags.userData === undefined
    ? undefined
    : await readText(sources.userDataName, flags.userData);
  const vendorData = flags.vendorData === undefined
    ? undefined
    : await readText("--vendor-data", flags.vendorData);
  const meta = flags.metaData === undefined
    ? {}
    : await readMapping(sources.metaDataName, flags.metaData);
  const keys = await Promise.all(flags.sshKey.map(sshKey));
  try {
    if (flags.format === "nocloud") {
      if (flags.hostname !== undefined) meta["local-hostname"] = flags.hostname;
      if (keys.length > 0) {
        const given = meta["public-keys"];
        const before = Array.isArray(given) ? given : given === undefined ? [] : [given];
        meta["public-keys"] = [...before, ...keys];
      }
      const networkConfig = flags.networkConfig === undefined
        ? undefined
        : await networkConfigText(flags.networkConfig);
      return cloudInit({
        userData: userData ?? "#cloud-config\n",
        metaData: meta,
        ...(networkConfig === undefined ? {} : { networkConfig }),
        ...(vendorData === undefined ? {} : { vendorData }),
      });
    }
    if (flags.hostname !== undefined) meta["hostname"] = flags.hostname;
    if (keys.length > 0) {
      const given = meta["public_keys"];
      const before = typeof given === "object" && given !== null ? given : {};
      meta["public_keys"] = {
        ...before,
        ...Object.fromEntries(keys.map((key, i) => [`key-${i + 1}`, key])),
      };
    }
    const network = flags.networkConfig === undefined
      ? undefined
      : await networkData(flags.networkConfig);
    return configDrive({
      ...(userData === undefined ? {} : { userData }),
      metaData: meta,
      ...(network === undefined ? {} : { networkData: network }),
      ...(vendorData === undefined ? {} : { vendorData }),
    });
  } catch (error) {
    // The library's hint names its own API; here the user writes files.
    const failure = cliErrorOf(error);
    throw new CliError(
      failure.message.replace(/, or pass a CloudConfig object$/, ""),
      failure.exitCode,
      { cause: error },
    );
  }
}

/** The directory `path` is in. */
function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash) || "/";
}

/**
 * Writes the ISO at `output` with mode 0600: a new file, or with `overwrite` a temporary file
 * beside it renamed over it (so a replaced seed gets mode 0600 too, and is never half written).
 */
async function writeIso(output: string, bytes: Uint8Array, overwrite: boolean): Promise<void> {
  const what = `Cannot write seed "${output}"`;
  const dir = directoryOf(output);
  const found = await Deno.stat(dir).catch(() => undefined);
  if (found === undefined || !found.isDirectory) {
    throw new CliError(
      found === undefined
        ? `${what}: directory "${dir}" does not exist`
        : `${what}: "${dir}" is not a directory`,
      EXIT.failure,
    );
  }
  const existing = await Deno.lstat(output).catch(() => undefined);
  if (existing?.isDirectory) throw new CliError(`${what}: it is a directory`, EXIT.failure);
  if (existing !== undefined && !overwrite) {
    throw new CliError(`${what}: the file exists; pass --overwrite to replace it`, EXIT.failure);
  }
  const slash = output.lastIndexOf("/");
  const target = overwrite
    ? `${dir}/.${output.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.part`
    : output;
  try {
    await Deno.writeFile(target, bytes, { mode: 0o600, createNew: true });
    if (target !== output) await Deno.rename(target, output);
  } catch (error) {
    if (target !== output) await Deno.remove(target).catch(() => {});
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new CliError(`${what}: the file exists; pass --overwrite to replace it`, EXIT.failure, {
        cause: error,
      });
    }
    throw new CliError(`${what}: ${(error as Error).message}`, EXIT.failure, { cause: error });
  }
}

/**
 * `vmkit seed OUTPUT [USER_DATA [META_DATA]]`.
 *
 * @param output The ISO to write.
 * @param userData cloud-localds's positional user-data file.
 * @param metaData cloud-localds's positional meta-data file.
 * @param flags The flags.
 * @throws {CliError} For a file that cannot be read or used, or an ISO that cannot be written
 *   (an existing one without --overwrite).
 */
export async function writeSeed(
  output: string,
  userData: string | undefined,
  metaData: string | undefined,
  flags: SeedFlags,
): Promise<void> {
  for (
    const [flag, positional, named] of [
      ["user-data", userData, flags.userData],
      ["meta-data", metaData, flags.metaData],
    ] as const
  ) {
    if (positional !== undefined && named !== undefined) {
      throw new CliError(
        `Cannot take ${flag} twice: "${positional}" and --${flag} "${named}"; give one`,
        EXIT.usage,
      );
    }
  }
  const seed = await buildSeed({
    ...flags,
    ...(userData === undefined ? {} : { userData }),
    ...(metaData === undefined ? {} : { metaData }),
  }, {
    // Named as given: the operands as the usage line shows them, else the flags.
    userDataName: userData === undefined ? "--user-data" : "user-data",
    metaDataName: metaData === undefined ? "--meta-data" : "meta-data",
  });
  await writeIso(output, seed.bytes, flags.overwrite === true);
}
