/**
 * `vmkit img create|info|resize|convert`: disk images through vmkit's `image` area, with
 * qemu-img's own flag spellings (`create -f qcow2 -b BASE -F qcow2 FILE 10G`,
 * `info --output=json`, `resize --shrink FILE -1G`, `convert -O qcow2 -p`). What each does is in
 * `../_img_actions.ts`, loaded when it runs.
 *
 * @module
 */

import { type Command, Option } from "npm:commander@^14.0.3";
import type { ConvertFlags, CreateFlags, InfoFlags, ResizeFlags } from "../_img_actions.ts";

/** The formats vmkit makes and attaches. */
const IMAGE_FORMATS = ["qcow2", "raw"];
/** The formats `img convert -O` writes: vmkit's, and other hypervisors' for export. */
const CONVERT_FORMATS = ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"];

/**
 * Adds `vmkit img`.
 *
 * @param program The `vmkit` program.
 */
export function registerImg(program: Command): void {
  const img = program.command("img")
    .summary("create, inspect, resize and convert disk images (qemu-img's flags)")
    .description(
      "Disk images, with qemu-img's flags: create images and overlays, read their info and backing chain, grow or shrink them, convert them with progress.",
    )
    .addHelpText(
      "after",
      `
Examples:
  vmkit img create -f qcow2 disk.qcow2 10G
  vmkit img create -f qcow2 -b base.qcow2 -F qcow2 vm.qcow2
  vmkit img info --output=json vm.qcow2
  vmkit img resize vm.qcow2 +5G
  vmkit img convert -O qcow2 -c -p disk.vmdk disk.qcow2`,
    );

  img.command("create")
    .description(
      "Create an image, or an overlay of a base image (-b). An overlay always records its base's format (-F, read from the base when not given); an existing FILE is refused unless --overwrite.",
    )
    .argument("<file>", "the image to create")
    .argument("[size]", "its size: bytes, or 10G, 512M (default for an overlay: the base's)")
    .addOption(
      new Option("-f, --format <fmt>", "the image's format (default qcow2)").choices(IMAGE_FORMATS),
    )
    .option("-b, --backing <base>", "make an overlay of this image (relative to FILE's directory)")
    .addOption(
      new Option("-F, --backing-format <fmt>", "the base's format (default: read from it)").choices(
        IMAGE_FORMATS,
      ),
    )
    .option("-o, --options <list>", "preallocation=off|metadata|falloc|full,cluster_size=SIZE")
    .option("--overwrite", "replace FILE when it exists")
    .option("-q, --quiet", "print nothing (vmkit img create prints nothing anyway)")
    .addHelpText(
      "after",
      `
Examples:
  vmkit img create -f qcow2 disk.qcow2 10G
  vmkit img create -b base.qcow2 -F qcow2 vm.qcow2
  vmkit img create -f raw -o preallocation=falloc scratch.img 1G`,
    )
    .action(async (file: string, size: string | undefined, flags: CreateFlags) => {
      const { imgCreate } = await import("../_img_actions.ts");
      await imgCreate(file, size, flags);
    });

  img.command("info")
    .description(
      "Show an image's format, sizes, backing file and snapshots, then those of each file down its backing chain. --json (or --output=json) prints vmkit's typed fields: filename, format, virtualSize, actualSize, clusterSize, backing, snapshots, and chain (every layer).",
    )
    .argument("<file>", "the image")
    .addOption(
      new Option("--output <fmt>", "what to print (default human)").choices(["human", "json"]),
    )
    .option("--json", "the same as --output=json")
    .option("-f, --format <fmt>", "the image's format, so it is not probed")
    .option("--no-backing-chain", "only the image itself (reads an overlay whose base is missing)")
    .option("--backing-chain", "follow the backing chain (the default)")
    .option("-U, --force-share", "accepted for qemu-img's sake: vmkit always reads with it")
    .addHelpText(
      "after",
      `
Examples:
  vmkit img info vm.qcow2
  vmkit img info --output=json vm.qcow2 | jq .chain[].filename`,
    )
    .action(async (file: string, flags: InfoFlags) => {
      const { imgInfo } = await import("../_img_actions.ts");
      await imgInfo(file, flags);
    });

  img.command("resize")
    .description(
      "Change the size the guest sees: a new size, or +SIZE / -SIZE. Shrinking drops the guest's data past the new end, so it needs --shrink.",
    )
    .argument("<file>", "a raw or qcow2 image")
    .argument("<size>", "20G, +5G or -1G")
    .option("--shrink", "allow the image to get smaller")
    .addOption(
      new Option(
        "-f, --format <fmt>",
        "accepted for qemu-img's sake: vmkit reads the format itself",
      )
        .choices(IMAGE_FORMATS),
    )
    .option("-q, --quiet", "print nothing")
    // "-1G" is a size, not an option: take unknown words as operands and sort them below.
    .allowUnknownOption()
    .addHelpText(
      "after",
      `
Examples:
  vmkit img resize vm.qcow2 +10G
  vmkit img resize --shrink vm.qcow2 -1G`,
    )
    .action(async (file: string, size: string, flags: ResizeFlags) => {
      const { imgResize } = await import("../_img_actions.ts");
      await imgResize(file, size, flags);
    });

  img.command("convert")
    .description(
      "Copy an image into a new file: another format (-O), compressed (-c), or a backing chain flattened into one image. Progress shows on a terminal. A failed or interrupted conversion leaves nothing at OUTPUT: Ctrl-C, SIGTERM or a closed terminal stop qemu-img and remove its partial file, then vmkit exits 130, 143 or 129.",
    )
    .argument("<source>", "the image to read")
    .argument("<output>", "the image to write")
    .option("-f, --format <fmt>", "the source's format, so it is not probed")
    .addOption(
      new Option("-O, --output-format <fmt>", "the format to write (default qcow2)")
        .choices(CONVERT_FORMATS),
    )
    .option("-c, --compress", "compress the data (qcow2)")
    .option("-p, --progress", "show progress (on a terminal it shows anyway)")
    .option("--overwrite", "replace OUTPUT when it exists")
    .option("-q, --quiet", "no progress")
    .addHelpText(
      "after",
      `
Examples:
  vmkit img convert -O qcow2 -c -p disk.vmdk disk.qcow2
  vmkit img convert -O raw vm.qcow2 flat.img      # the whole backing chain in one file`,
    )
    .action(async (source: string, output: string, flags: ConvertFlags) => {
      const { imgConvert } = await import("../_img_actions.ts");
      await imgConvert(source, output, flags);
    });
}
