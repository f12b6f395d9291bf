/**
 * `vmkit img create|info|resize|convert`: disk images through vmkit's `image` area, with
 * qemu-img's own flag spellings (`create -f qcow2 -b BASE -F qcow2 FILE 10G`,
 * `info --output=json`, `resize --shrink FILE -1G`, `convert -O qcow2 -p`).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { createImage, type CreateImageOptions, type Preallocation } from "../../image/create.ts";
import { type ImageInfo, imageInfo, type ImageLayer } from "../../image/info.ts";
import { resizeImage } from "../../image/resize.ts";
import { type ConvertFormat, convertImage } from "../../image/convert.ts";
import type { ImageFormat } from "../../vm/image_format.ts";
import { CliError } from "../errors.ts";
import { EXIT } from "../exit_codes.ts";
import { printJson } from "../_output.ts";
import { libraryCall } from "../_library_errors.ts";

const encoder = new TextEncoder();

function print(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}

/** A size as qemu-img prints it: `10 GiB`, `196 KiB`, `512 B`. */
function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 ? String(value) : String(Number(value.toFixed(3)));
  return `${shown} ${units[unit]}`;
}

/** One layer as `qemu-img info` prints it. */
function layerText(layer: ImageLayer): string {
  const lines = [
    `image: ${layer.filename}`,
    `file format: ${layer.format}`,
    `virtual size: ${humanSize(layer.virtualSize)} (${layer.virtualSize} bytes)`,
  ];
  if (layer.actualSize !== undefined) lines.push(`disk size: ${humanSize(layer.actualSize)}`);
  if (layer.clusterSize !== undefined) lines.push(`cluster_size: ${layer.clusterSize}`);
  if (layer.backing !== undefined) {
    const full = layer.backing.fullFilename;
    lines.push(
      `backing file: ${layer.backing.filename}${
        full !== undefined && full !== layer.backing.filename ? ` (actual path: ${full})` : ""
      }`,
    );
    lines.push(`backing file format: ${layer.backing.format ?? "(not recorded: QEMU guesses)"}`);
  }
  if (layer.dirty) {
    lines.push("dirty: yes (not closed cleanly; vmkit img check or qemu-img check -r)");
  }
  if (layer.corrupt) lines.push("corrupt: yes");
  if (layer.encrypted) lines.push("encrypted: yes");
  if (layer.snapshots.length > 0) {
    lines.push("Snapshot list:");
    lines.push("ID        TAG               VM SIZE                DATE     VM CLOCK");
    for (const snap of layer.snapshots) {
      const clock = new Date(snap.vmClock).toISOString().slice(11, 23);
      lines.push(
        `${snap.id.padEnd(10)}${snap.name.padEnd(18)}${humanSize(snap.vmStateSize).padStart(7)} ${
          snap.date.toISOString().slice(0, 19).replace("T", " ")
        } ${clock}`,
      );
    }
  }
  return lines.join("\n");
}

/** `-o preallocation=full,cluster_size=64K`, as qemu-img create takes it. */
function createOptions(text: string): Pick<CreateImageOptions, "preallocation" | "clusterSize"> {
  const options: Pick<CreateImageOptions, "preallocation" | "clusterSize"> = {};
  for (const item of text.split(",").filter((part) => part !== "")) {
    const [key, ...rest] = item.split("=");
    const value = rest.join("=");
    if (key === "preallocation") options.preallocation = value as Preallocation;
    else if (key === "cluster_size") options.clusterSize = value;
    else {
      throw new CliError(
        `Cannot use -o ${
          JSON.stringify(item)
        }: vmkit img create takes preallocation=off|metadata|falloc|full and cluster_size=SIZE`,
        EXIT.usage,
      );
    }
  }
  return options;
}

function imageFormat(flag: string, value: string | undefined): ImageFormat | undefined {
  if (value === undefined || value === "qcow2" || value === "raw") return value;
  throw new CliError(
    `Cannot use ${flag} ${JSON.stringify(value)}: vmkit makes and attaches qcow2 and raw images`,
    EXIT.usage,
  );
}

interface CreateFlags {
  format?: string;
  backing?: string;
  backingFormat?: string;
  options?: string;
  overwrite?: boolean;
  quiet?: boolean;
}

interface InfoFlags {
  output?: string;
  json?: boolean;
  format?: string;
  backingChain?: boolean;
  forceShare?: boolean;
}

interface ResizeFlags {
  shrink?: boolean;
  format?: string;
  quiet?: boolean;
}

interface ConvertFlags {
  format?: string;
  outputFormat?: string;
  compress?: boolean;
  progress?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
}

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
    .option("-f, --format <fmt>", "qcow2 (default) or raw")
    .option("-b, --backing <base>", "make an overlay of this image (relative to FILE's directory)")
    .option("-F, --backing-format <fmt>", "the base's format, qcow2 or raw")
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
      const options: CreateImageOptions = {
        ...(flags.options === undefined ? {} : createOptions(flags.options)),
      };
      const format = imageFormat("-f", flags.format);
      const backingFormat = imageFormat("-F", flags.backingFormat);
      if (format !== undefined) options.format = format;
      if (backingFormat !== undefined) options.backingFormat = backingFormat;
      if (flags.backing !== undefined) options.backing = flags.backing;
      if (size !== undefined) options.size = size;
      if (flags.overwrite) options.overwrite = true;
      await libraryCall(() => createImage(file, options)).catch((error: CliError) => {
        if (error.cause instanceof Deno.errors.AlreadyExists) {
          throw new CliError(
            `Cannot create image "${file}": the file exists; pass --overwrite to replace it`,
            EXIT.failure,
            { cause: error.cause },
          );
        }
        throw error;
      });
    });

  img.command("info")
    .description(
      "Show an image's format, sizes, backing file and snapshots, then those of each file down its backing chain. --json (or --output=json) prints vmkit's typed fields: filename, format, virtualSize, actualSize, clusterSize, backing, snapshots, and chain (every layer).",
    )
    .argument("<file>", "the image")
    .option("--output <fmt>", "human (default) or json")
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
      const output = flags.json ? "json" : flags.output ?? "human";
      if (output !== "json" && output !== "human") {
        throw new CliError(
          `Cannot use --output ${JSON.stringify(output)}: give human or json`,
          EXIT.usage,
        );
      }
      const info: ImageInfo = await libraryCall(() =>
        imageInfo(file, {
          ...(flags.format === undefined ? {} : { format: flags.format }),
          backingChain: flags.backingChain !== false,
        })
      );
      if (output === "json") {
        printJson(info);
        return;
      }
      print(info.chain.map(layerText).join("\n\n"));
    });

  img.command("resize")
    .description(
      "Change the size the guest sees: a new size, or +SIZE / -SIZE. Shrinking drops the guest's data past the new end, so it needs --shrink.",
    )
    .argument("<file>", "a raw or qcow2 image")
    .argument("<size>", "20G, +5G or -1G")
    .option("--shrink", "allow the image to get smaller")
    .option("-f, --format <fmt>", "accepted for qemu-img's sake: vmkit reads the format itself")
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
      for (const word of [file, size]) {
        if (word.startsWith("-") && !/^-\s*\d/.test(word)) {
          throw new CliError(
            `unknown option '${word}' (vmkit img resize takes --shrink, -f FMT, -q)`,
            EXIT.usage,
          );
        }
      }
      const bytes = await libraryCall(() =>
        resizeImage(file, size, flags.shrink ? { shrink: true } : {})
      ).catch((error: CliError) => {
        throw new CliError(
          error.message.replace(/pass \{ shrink: true \} to shrink/, "pass --shrink to shrink"),
          error.exitCode,
          { cause: error.cause },
        );
      });
      if (!flags.quiet) print(`Image resized to ${humanSize(bytes)} (${bytes} bytes).`);
    });

  img.command("convert")
    .description(
      "Copy an image into a new file: another format (-O), compressed (-c), or a backing chain flattened into one image. Progress shows on a terminal. A failed or interrupted conversion leaves nothing at OUTPUT.",
    )
    .argument("<source>", "the image to read")
    .argument("<output>", "the image to write")
    .option("-f, --format <fmt>", "the source's format, so it is not probed")
    .option("-O, --output-format <fmt>", "qcow2 (default), raw, vmdk, vdi, vhdx or vpc")
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
      await libraryCall(() =>
        convertImage(source, output, {
          format: (flags.outputFormat ?? "qcow2") as ConvertFormat,
          ...(flags.format === undefined ? {} : { sourceFormat: flags.format }),
          ...(flags.compress ? { compress: true } : {}),
          ...(flags.overwrite ? { overwrite: true } : {}),
          progress: !flags.quiet,
        })
      ).catch((error: CliError) => {
        throw new CliError(
          error.message.replace(/pass \{ overwrite: true \} to replace it/, "pass --overwrite"),
          error.exitCode,
          { cause: error.cause },
        );
      });
    });
}
