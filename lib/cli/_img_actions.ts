// What `vmkit img` does, loaded only when it runs: qemu-img's flags mapped onto vmkit's image
// area, and `qemu-img info`'s human output.

import { createImage, type CreateImageOptions, type Preallocation } from "../image/create.ts";
import { type ImageInfo, imageInfo, type ImageLayer } from "../image/info.ts";
import { resizeImage } from "../image/resize.ts";
import { type ConvertFormat, convertImage } from "../image/convert.ts";
import type { ImageFormat } from "../vm/image_format.ts";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit_codes.ts";
import { printJson } from "./_output.ts";
import { libraryCall } from "./_library_errors.ts";
import { Interrupt, type InterruptedError } from "./_interrupt.ts";
import { QemuImgError } from "../image/errors.ts";
import { sleep } from "../_sleep.ts";

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

/** The flags of `vmkit img create`. */
export interface CreateFlags {
  format?: ImageFormat;
  backing?: string;
  backingFormat?: ImageFormat;
  options?: string;
  overwrite?: boolean;
  quiet?: boolean;
}

/** The flags of `vmkit img info`. */
export interface InfoFlags {
  output?: "human" | "json";
  json?: boolean;
  format?: string;
  backingChain?: boolean;
  forceShare?: boolean;
}

/** The flags of `vmkit img resize`. */
export interface ResizeFlags {
  shrink?: boolean;
  format?: string;
  quiet?: boolean;
}

/** The flags of `vmkit img convert`. */
export interface ConvertFlags {
  format?: string;
  outputFormat?: ConvertFormat;
  compress?: boolean;
  progress?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
}

/**
 * `vmkit img create FILE [SIZE]`.
 *
 * @param file The image to create.
 * @param size Its size.
 * @param flags qemu-img create's flags.
 * @throws {CliError} When it cannot be made.
 */
export async function imgCreate(
  file: string,
  size: string | undefined,
  flags: CreateFlags,
): Promise<void> {
  const options: CreateImageOptions = {
    ...(flags.options === undefined ? {} : createOptions(flags.options)),
  };
  // -f and -F are commander's choices: qcow2 or raw.
  if (flags.format !== undefined) options.format = flags.format;
  if (flags.backingFormat !== undefined) options.backingFormat = flags.backingFormat;
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
}

/**
 * `vmkit img info FILE`: qemu-img's human lines, or vmkit's typed fields as JSON.
 *
 * @param file The image.
 * @param flags The output and format flags.
 * @throws {CliError} When it cannot be read.
 */
export async function imgInfo(file: string, flags: InfoFlags): Promise<void> {
  const output = flags.json ? "json" : flags.output ?? "human";
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
}

/**
 * `vmkit img resize FILE SIZE`.
 *
 * @param file The image.
 * @param size A size, or +SIZE / -SIZE.
 * @param flags --shrink, -q.
 * @throws {CliError} For a bad size, a shrink without --shrink, or qemu-img's failure.
 */
export async function imgResize(file: string, size: string, flags: ResizeFlags): Promise<void> {
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
}

/**
 * Whether a signal stopped the conversion: qemu-img shares vmkit's terminal, so Ctrl-C or a
 * hang-up reaches it too and may end it (status 128 + the signal) before vmkit's own listener
 * has run; that listener gets a moment before the failure counts as qemu-img's own.
 */
async function interrupted(error: CliError, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return true;
  const killed = error.cause instanceof QemuImgError &&
    [128 + 1, 128 + 2, 128 + 15].includes(error.cause.exitCode);
  if (!killed) return false;
  await sleep(SIGNAL_GRACE_MS, signal).catch(() => {});
  return signal.aborted;
}

/** How long a qemu-img killed by a terminal's signal waits for vmkit's own listener. */
const SIGNAL_GRACE_MS = 500;

/**
 * `vmkit img convert SOURCE OUTPUT`, with progress on a terminal. SIGINT, SIGTERM and SIGHUP
 * stop qemu-img and remove its partial file before vmkit exits with 130, 143 or 129.
 *
 * @param source The image to read.
 * @param output The image to write.
 * @param flags The formats, compression, overwrite, quiet.
 * @throws {CliError} When it cannot be converted.
 * @throws {InterruptedError} When a signal stopped it.
 */
export async function imgConvert(
  source: string,
  output: string,
  flags: ConvertFlags,
): Promise<void> {
  using interrupt = new Interrupt(
    `the conversion was stopped; ${JSON.stringify(output)} was not written`,
  );
  const signal = interrupt.signal;
  try {
    await libraryCall(() =>
      convertImage(source, output, {
        format: flags.outputFormat ?? "qcow2",
        ...(flags.format === undefined ? {} : { sourceFormat: flags.format }),
        ...(flags.compress ? { compress: true } : {}),
        ...(flags.overwrite ? { overwrite: true } : {}),
        progress: !flags.quiet,
        signal,
      })
    );
  } catch (error) {
    if (await interrupted(error as CliError, signal)) throw signal.reason as InterruptedError;
    const cli = error as CliError;
    throw new CliError(
      cli.message.replace(/pass \{ overwrite: true \} to replace it/, "pass --overwrite"),
      cli.exitCode,
      { cause: cli.cause },
    );
  }
}
