/**
 * Internal snapshots of a qcow2 image, offline: listed, taken, applied and deleted with
 * `qemu-img snapshot` while no VM has the image open (a running VM's are `vm.saveSnapshot()`).
 *
 * @module
 */

import type { WaitOptions } from "../_deadline.ts";
import { checkImageFormat } from "../vm/image_format.ts";
import { type ImageSnapshot, readInfo } from "./info.ts";
import { type Deadline, deadline, imageOpts, requireFile, runQemuImg } from "./_qemu_img.ts";

/**
 * Lists an image's internal snapshots (from `qemu-img info`, which also reads an image a VM has
 * open).
 *
 * @param path The image.
 * @param options Cancellation and time limit.
 * @returns The snapshots, oldest first; none for a raw image.
 * @throws {Deno.errors.NotFound} When the file does not exist, or qemu-img is not installed.
 * @throws {QemuImgError} When qemu-img cannot read it.
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * for (const s of await image.snapshots("disk.qcow2")) console.log(s.name, s.date);
 * ```
 */
export async function listSnapshots(
  path: string,
  options: WaitOptions = {},
): Promise<ImageSnapshot[]> {
  const what = `Cannot list snapshots of "${path}"`;
  const limit = deadline(`list snapshots of "${path}"`, options);
  await requireFile(what, path);
  return (await readInfo(what, path, { backingChain: false }, limit)).snapshots;
}

/**
 * Takes an internal snapshot of the disk's current state (`qemu-img snapshot -c`). The image
 * must be qcow2 and no VM may have it open.
 *
 * @param path A qcow2 image.
 * @param name The snapshot's name: not empty, and not the name or id of one it has.
 * @param options Cancellation and time limit.
 * @throws {TypeError} For a raw image, or a name that is empty, has a newline or NUL, or is
 *   taken (QEMU would keep both, and `apply` could not tell them apart).
 * @throws {Deno.errors.NotFound} When the file does not exist, or qemu-img is not installed.
 * @throws {QemuImgError} When qemu-img fails (a VM has the image open).
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.snapshot.create("disk.qcow2", "before-upgrade");
 * ```
 */
export async function createSnapshot(
  path: string,
  name: string,
  options: WaitOptions = {},
): Promise<void> {
  const verb = `create snapshot ${JSON.stringify(name)} of`;
  const what = `Cannot ${verb} "${path}"`;
  const limit = deadline(`${verb} "${path}"`, options);
  const existing = await snapshotsOf(verb, path, name, limit);
  const taken = existing.find((s) => s.name === name || s.id === name);
  if (taken !== undefined) {
    throw new TypeError(
      `${what}: it has snapshot ${
        taken.name === name ? `"${name}" (id ${taken.id})` : `id ${taken.id} ("${taken.name}")`
      }; choose another name or delete that one first`,
    );
  }
  await runQemuImg(
    { what, path },
    ["snapshot", "-q", "-c", name, "--image-opts", imageOpts("qcow2", path)],
    limit,
  );
}

/**
 * Reverts the disk to a snapshot (`qemu-img snapshot -a`): what was written since is lost. No
 * VM may have the image open.
 *
 * @param path A qcow2 image.
 * @param name The snapshot's name (or its id).
 * @param options Cancellation and time limit.
 * @throws {TypeError} For a raw image, or a name that is ambiguous (the name of one snapshot
 *   and the id of another, or the name of several).
 * @throws {Deno.errors.NotFound} When the image, the snapshot or qemu-img is not there.
 * @throws {QemuImgError} When qemu-img fails (a VM has the image open).
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.snapshot.apply("disk.qcow2", "before-upgrade");
 * ```
 */
export async function applySnapshot(
  path: string,
  name: string,
  options: WaitOptions = {},
): Promise<void> {
  const verb = `apply snapshot ${JSON.stringify(name)} to`;
  const what = `Cannot ${verb} "${path}"`;
  const limit = deadline(`${verb} "${path}"`, options);
  await findSnapshot(verb, path, name, limit);
  await runQemuImg(
    { what, path },
    ["snapshot", "-q", "-a", name, "--image-opts", imageOpts("qcow2", path)],
    limit,
  );
}

/**
 * Deletes a snapshot (`qemu-img snapshot -d`), freeing the clusters only it used. No VM may
 * have the image open.
 *
 * @param path A qcow2 image.
 * @param name The snapshot's name (or its id).
 * @param options Cancellation and time limit.
 * @throws {TypeError} For a raw image, or an ambiguous name (see {@linkcode applySnapshot}).
 * @throws {Deno.errors.NotFound} When the image, the snapshot or qemu-img is not there.
 * @throws {QemuImgError} When qemu-img fails (a VM has the image open).
 * @throws {ImageTimeoutError} When `timeout` passes first.
 *
 * @example
 * ```ts
 * import { image } from "@vmkit/vmkit";
 * await image.snapshot.delete("disk.qcow2", "before-upgrade");
 * ```
 */
export async function deleteSnapshot(
  path: string,
  name: string,
  options: WaitOptions = {},
): Promise<void> {
  const verb = `delete snapshot ${JSON.stringify(name)} of`;
  const what = `Cannot ${verb} "${path}"`;
  const limit = deadline(`${verb} "${path}"`, options);
  await findSnapshot(verb, path, name, limit);
  await runQemuImg(
    { what, path },
    ["snapshot", "-q", "-d", name, "--image-opts", imageOpts("qcow2", path)],
    limit,
  );
}

export {
  applySnapshot as apply,
  createSnapshot as create,
  deleteSnapshot as delete,
  listSnapshots as list,
};

/** The image's snapshots, after checking the name, that the file exists and is qcow2. */
async function snapshotsOf(
  verb: string,
  path: string,
  name: string,
  limit: Deadline,
): Promise<ImageSnapshot[]> {
  const what = `Cannot ${verb} "${path}"`;
  if (typeof name !== "string" || name === "" || /[\n\0]/.test(name)) {
    throw new TypeError(
      `${what}: a snapshot name must be a non-empty string without newlines or NUL`,
    );
  }
  await requireFile(what, path);
  const format = await checkImageFormat(`Cannot ${verb}`, path);
  if (format !== "qcow2") {
    throw new TypeError(`${what}: it is a ${format} image; only qcow2 holds snapshots`);
  }
  return (await readInfo(what, path, { format, backingChain: false }, limit)).snapshots;
}

/**
 * The snapshot `name` selects as QEMU resolves it (by id first, then by name), refusing a name
 * that could mean two snapshots.
 */
async function findSnapshot(
  verb: string,
  path: string,
  name: string,
  limit: Deadline,
): Promise<ImageSnapshot> {
  const what = `Cannot ${verb} "${path}"`;
  const snapshots = await snapshotsOf(verb, path, name, limit);
  const byId = snapshots.find((s) => s.id === name);
  const byName = snapshots.filter((s) => s.name === name);
  const others = byName.filter((s) => s !== byId);
  if ((byId !== undefined && others.length > 0) || (byId === undefined && byName.length > 1)) {
    const all = [...(byId === undefined ? [] : [byId]), ...others];
    throw new TypeError(
      `${what}: it names ${all.length} snapshots (${
        all.map((s) => `id ${s.id} "${s.name}"`).join(", ")
      }); give the id of the one you mean`,
    );
  }
  const found = byId ?? byName[0];
  if (found === undefined) {
    throw new Deno.errors.NotFound(
      `${what}: it has no such snapshot (${
        snapshots.length === 0
          ? "it has none"
          : `it has ${snapshots.map((s) => JSON.stringify(s.name)).join(", ")}`
      })`,
    );
  }
  return found;
}
