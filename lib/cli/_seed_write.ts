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
  format: string;
  diskFormat?: string;
  filesystem?: string;
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

async function buildSeed(flags: SeedFlags): Promise<CloudInitSeed> {
  if (flags.format !== "nocloud" && flags.format !== "configdrive") {
    throw new CliError(
      `Cannot use --format ${JSON.stringify(flags.format)}: give nocloud or configdrive`,
      EXIT.usage,
    );
  }
  if (flags.diskFormat !== undefined && flags.diskFormat !== "raw") {
    throw new CliError(
      `Cannot use --disk-format ${
        JSON.stringify(flags.diskFormat)
      }: vmkit writes a raw ISO image; convert it with vmkit img convert if needed`,
      EXIT.usage,
    );
  }
  if (flags.filesystem !== undefined && !["iso", "iso9660"].includes(flags.filesystem)) {
    throw new CliError(
      `Cannot use --filesystem ${JSON.stringify(flags.filesystem)}: vmkit writes iso9660`,
      EXIT.usage,
    );
  }
  const userData = flags.userData === undefined
    ? undefined
    : await readText("--user-data", flags.userData);
  const vendorData = flags.vendorData === undefined
    ? undefined
    : await readText("--vendor-data", flags.vendorData);
  const meta = flags.metaData === undefined ? {} : await readMapping("--meta-data", flags.metaData);
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
        : await readText("--network-config", flags.networkConfig);
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
    const networkData = flags.networkConfig === undefined
      ? undefined
      : await readMapping("--network-config", flags.networkConfig);
    return configDrive({
      ...(userData === undefined ? {} : { userData }),
      metaData: meta,
      ...(networkData === undefined ? {} : { networkData }),
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

/**
 * `vmkit seed OUTPUT [USER_DATA [META_DATA]]`.
 *
 * @param output The ISO to write.
 * @param userData cloud-localds's positional user-data file.
 * @param metaData cloud-localds's positional meta-data file.
 * @param flags The flags.
 * @throws {CliError} For a file that cannot be read or used, or an ISO that cannot be written.
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
  });
  try {
    await seed.write(output);
  } catch (error) {
    throw new CliError(
      `Cannot write seed "${output}": ${(error as Error).message}`,
      EXIT.failure,
      { cause: error },
    );
  }
}
