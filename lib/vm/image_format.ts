/**
 * Telling a disk image's format from its first bytes, so that a qcow2 image is never attached
 * as raw (the guest would see, and could overwrite, its header) and QEMU never has to guess.
 *
 * @module
 */

import { readUpTo } from "../_read.ts";

/** Disk image formats vmkit attaches. */
export type ImageFormat = "raw" | "qcow2";

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
/** VDI's signature, at offset 0x40 after a free-text banner ("<<< QEMU VM Virtual Disk Image >>>"). */
const VDI_SIGNATURE = 0xbeda107f;
const BACKING_FORMAT_EXTENSION = 0xe2792aca;

/** Formats QEMU knows that vmkit does not attach, by their magic at offset 0. */
const OTHER_FORMATS: readonly [string, string][] = [
  ["KDMV", "VMDK"],
  ["COWD", "VMDK (version 3)"],
  ["# Disk DescriptorFile", "VMDK (descriptor)"],
  ["vhdxfile", "VHDX"],
  ["conectix", "VHD (vpc)"],
  ["QED\0", "QED"],
  ["LUKS\xba\xbe", "LUKS"],
  ["WithoutFreeSpace", "Parallels"],
  ["WithouFreSpacExt", "Parallels"],
  ["Bochs Virtual HD Image", "Bochs"],
  ["#!/bin/sh\n#V2.0 Format", "cloop"],
];

/** What {@linkcode detectImageFormat} read from an image. */
export interface ImageFormatInfo {
  /** The format. */
  format: ImageFormat;
  /** For a qcow2 overlay: its backing file as the header names it, and that file's format. */
  backing?: { file: string; format: string };
}

/**
 * Reads an image's format from its header: `qcow2` when it starts with qcow2's magic, `raw`
 * otherwise. Refuses what would make QEMU guess: a qcow2 overlay whose backing file has no
 * recorded format, and the formats QEMU knows that vmkit does not attach (VMDK, VHDX, VDI...),
 * which raw would expose to the guest as they are.
 *
 * @param path The image file.
 * @returns The format, and the backing file of a qcow2 overlay.
 * @throws {TypeError} For an image of another format, a qcow2 v1 image, or a qcow2 overlay
 *   without a backing format; the message says how to fix it with `qemu-img`.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 *
 * @example
 * ```ts
 * import { detectImageFormat } from "@vmkit/vmkit";
 * console.log((await detectImageFormat("disk.qcow2")).format); // "qcow2"
 * ```
 */
export async function detectImageFormat(path: string): Promise<ImageFormatInfo> {
  using file = await Deno.open(path, { read: true });
  const head = await readAt(file, 0, 4096);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 4 && view.getUint32(0) === QCOW2_MAGIC) {
    return await qcow2Info(path, file, head);
  }
  const text = String.fromCharCode(...head.subarray(0, 64));
  const vdi = head.length >= 0x44 && view.getUint32(0x40, true) === VDI_SIGNATURE;
  const other = vdi ? "VDI" : OTHER_FORMATS.find(([magic]) => text.startsWith(magic))?.[1];
  if (other !== undefined) {
    throw new TypeError(
      `Cannot use image "${path}": it is a ${other} image, and vmkit attaches raw and qcow2 only; convert it with: qemu-img convert -O qcow2 ${path} ${path}.qcow2`,
    );
  }
  return { format: "raw" };
}

async function qcow2Info(
  path: string,
  file: Deno.FsFile,
  head: Uint8Array,
): Promise<ImageFormatInfo> {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 72) {
    throw new TypeError(`Cannot use image "${path}": its qcow2 header is truncated`);
  }
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) {
    throw new TypeError(
      `Cannot use image "${path}": it is qcow version ${version}; vmkit attaches qcow2 (versions 2 and 3); convert it with: qemu-img convert -O qcow2 ${path} ${path}.qcow2`,
    );
  }
  const backingOffset = Number(view.getBigUint64(8));
  const backingSize = view.getUint32(16);
  if (backingOffset === 0 || backingSize === 0) return { format: "qcow2" };
  const backing = new TextDecoder().decode(await readAt(file, backingOffset, backingSize));
  // Header extensions follow the header: at 72 in version 2, at header_length in version 3.
  let offset = version === 2 ? 72 : head.length >= 104 ? view.getUint32(100) : 104;
  let format: string | undefined;
  const end = Math.min(backingOffset, 64 * 1024);
  while (offset + 8 <= end) {
    const ext = await readAt(file, offset, 8);
    if (ext.length < 8) break;
    const extView = new DataView(ext.buffer, ext.byteOffset, 8);
    const type = extView.getUint32(0);
    const length = extView.getUint32(4);
    if (type === 0) break;
    if (type === BACKING_FORMAT_EXTENSION) {
      format = new TextDecoder().decode(await readAt(file, offset + 8, length));
      break;
    }
    offset += 8 + Math.ceil(length / 8) * 8;
  }
  if (format === undefined) {
    throw new TypeError(
      `Cannot use image "${path}": it is a qcow2 overlay of "${backing}" with no backing format recorded, so QEMU would guess that file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b ${backing} ${path}`,
    );
  }
  return { format: "qcow2", backing: { file: backing, format } };
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  return await readUpTo(file, length);
}

/**
 * The format to attach an image as: what {@linkcode detectImageFormat} reads, which a format
 * given by the caller must match; a qcow2 (or other) image given as raw would show the guest
 * its container, which it could overwrite.
 *
 * @param what Starts the messages: `Cannot launch VM: drive "drive0"`.
 * @param path The image.
 * @param format The format the caller gave, if any.
 * @returns The format.
 * @throws {TypeError} When the image is refused, or is not what `format` says.
 */
export async function checkImageFormat(
  what: string,
  path: string,
  format?: ImageFormat,
): Promise<ImageFormat> {
  let info: ImageFormatInfo;
  try {
    info = await detectImageFormat(path);
  } catch (error) {
    if (error instanceof TypeError) {
      error.message = error.message.replace(/^Cannot use image "[^]*?":/, `${what} "${path}":`);
    }
    throw error;
  }
  if (format !== undefined && format !== info.format) {
    throw new TypeError(
      `${what} "${path}" is ${
        info.format === "qcow2" ? "a qcow2 image" : "not a qcow2 image"
      }, but format "${format}" was given${
        info.format === "qcow2"
          ? " (the guest would see, and could overwrite, its qcow2 header)"
          : ""
      }; leave out format to have it read from the file`,
    );
  }
  return info.format;
}
