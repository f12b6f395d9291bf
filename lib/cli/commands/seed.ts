/**
 * `vmkit seed OUT.iso`: a cloud-init seed image, as `cloud-localds` writes one (its positional
 * form `seed OUT USER_DATA [META_DATA]` too): NoCloud (`cidata`) by default, or an OpenStack
 * ConfigDrive (`config-2`). What it does is in `../_seed_write.ts`, loaded when it runs.
 *
 * @module
 */

import { type Command, Option } from "npm:commander@^14.0.3";
import type { SeedFlags } from "../_seed_write.ts";

/**
 * Adds `vmkit seed`.
 *
 * @param program The `vmkit` program.
 */
export function registerSeed(program: Command): void {
  program.command("seed")
    .summary("write a cloud-init seed ISO (NoCloud or ConfigDrive), like cloud-localds")
    .description(
      "Write a cloud-init seed image: NoCloud (volume cidata: user-data, meta-data, network-config) or an OpenStack ConfigDrive (config-2). Attach it read-only as a raw virtio disk. Without an instance-id in the meta-data, one is made from the content, so a changed seed runs cloud-init's first-boot steps again. SSH keys go into the meta-data (public-keys), for the image's default user.",
    )
    .argument(
      "<output>",
      "the ISO to write (mode 0600: user-data may hold password hashes); an existing one is refused unless --overwrite",
    )
    .argument("[user-data]", "cloud-localds's positional user-data file")
    .argument("[meta-data]", "cloud-localds's positional meta-data file")
    .option("--user-data <file>", "user-data: #cloud-config, a #! script, MIME multipart...")
    .option("--meta-data <file>", "meta-data, YAML (instance-id, local-hostname...)")
    .option(
      "-N, --network-config <file>",
      "network-config, version 1 or 2 (NoCloud), or network_data (ConfigDrive)",
    )
    .option("-V, --vendor-data <file>", "vendor-data")
    .option(
      "--ssh-key <pubkey>",
      "an SSH public key or its .pub file, for the default user (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("-H, --hostname <hostname>", "the host name (meta-data local-hostname)")
    .addOption(
      new Option("--format <kind>", "the seed's kind").choices(["nocloud", "configdrive"])
        .default("nocloud"),
    )
    .option("--overwrite", "replace OUTPUT when it exists")
    .addOption(
      new Option("-d, --disk-format <fmt>", "cloud-localds's; vmkit writes raw").choices(["raw"]),
    )
    .addOption(
      new Option("-f, --filesystem <fs>", "cloud-localds's; vmkit writes iso9660").choices([
        "iso9660",
        "iso",
      ]),
    )
    .addHelpText(
      "after",
      `
Examples:
  vmkit seed seed.iso --user-data user-data.yaml --ssh-key ~/.ssh/id_ed25519.pub
  vmkit seed seed.iso user-data meta-data                  # cloud-localds's form
  vmkit seed cfg.iso --format configdrive -H vm1 --ssh-key "ssh-ed25519 AAAA... me@host"`,
    )
    .action(
      async (
        output: string,
        userData: string | undefined,
        metaData: string | undefined,
        flags: SeedFlags,
      ) => {
        const { writeSeed } = await import("../_seed_write.ts");
        await writeSeed(output, userData, metaData, flags);
      },
    );
}
