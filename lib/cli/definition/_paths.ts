// The host paths of a definition: read from the directory of the file each was written in, `~/`
// from HOME; and the files they name, which must be there when the definition is loaded.

import { isAbsolute, join, normalize } from "node:path";
import { envVar } from "../../_env.ts";
import { checkImageFormat } from "../../vm/image_format.ts";
import type { FieldPath } from "./_source.ts";
import type { VmDefinition } from "./schema.ts";

/** What a path field names. */
type Expect = "file" | "directory" | "image";

/** A path field of a definition. */
export interface PathField {
  /** Where it is. */
  path: FieldPath;
  /** Its value. */
  value: string;
  /** What it must name. */
  expect: Expect;
  /** What it is, in messages: `kernel image`. */
  what: string;
}

/** Every host path of a definition. */
export function pathFields(def: VmDefinition): PathField[] {
  const fields: PathField[] = [];
  const kernel = def.kernel;
  if (typeof kernel === "string") {
    fields.push({ path: ["kernel"], value: kernel, expect: "file", what: "a kernel image" });
  } else if (kernel !== undefined) {
    fields.push({
      path: ["kernel", "path"],
      value: kernel.path,
      expect: "file",
      what: "a kernel image",
    });
    if (kernel.initrd !== undefined) {
      fields.push({
        path: ["kernel", "initrd"],
        value: kernel.initrd,
        expect: "file",
        what: "an initial ramdisk",
      });
    }
  }
  def.disks?.forEach((disk, i) => {
    if (disk.image !== undefined) {
      fields.push({ path: ["disks", i, "image"], value: disk.image, expect: "image", what: "" });
    }
    if (disk.overlayOf !== undefined) {
      fields.push({
        path: ["disks", i, "overlayOf"],
        value: disk.overlayOf,
        expect: "image",
        what: "",
      });
    }
  });
  def.shares?.forEach((share, i) => {
    fields.push({
      path: ["shares", i, "host"],
      value: share.host,
      expect: "directory",
      what: "a directory",
    });
  });
  if (typeof def.ssh === "object" && def.ssh.identity !== undefined) {
    fields.push({
      path: ["ssh", "identity"],
      value: def.ssh.identity,
      expect: "file",
      what: "a private key",
    });
  }
  return fields;
}

/** Why a path cannot be resolved: `~/` without HOME. */
export class PathError extends Error {
  override readonly name = "PathError";
}

/**
 * A path as written, made absolute: `~` and `~/...` from HOME, a relative one from `dir`.
 *
 * @param value The path as written.
 * @param dir The directory of the file it was written in (or the working directory).
 * @returns The absolute path.
 * @throws {PathError} For `~` when HOME is not set or not readable.
 */
export function resolvePath(value: string, dir: string): string {
  if (value === "~" || value.startsWith("~/")) {
    const home = envVar("HOME");
    if (home === undefined || home === "") {
      throw new PathError(
        `${JSON.stringify(value)} starts with ~, and HOME is not set (or vmkit may not read it)`,
      );
    }
    return normalize(join(home, value.slice(1)));
  }
  return isAbsolute(value) ? normalize(value) : normalize(join(dir, value));
}

/** Why a resolved path does not name what it must, or `undefined` when it does. */
export async function missingFile(
  field: PathField,
  resolved: string,
  format: string | undefined,
): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(resolved);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `${JSON.stringify(resolved)} does not exist`;
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      return `${JSON.stringify(resolved)} cannot be read (${error.message})`;
    }
    throw error;
  }
  if (field.expect === "directory") {
    return info.isDirectory ? undefined : `${JSON.stringify(resolved)} is not a directory`;
  }
  if (info.isDirectory) return `${JSON.stringify(resolved)} is a directory`;
  if (field.expect === "image") {
    try {
      await checkImageFormat("image", resolved, format as "raw" | "qcow2" | undefined);
    } catch (error) {
      if (error instanceof TypeError) return error.message;
      throw error;
    }
  }
  if (field.path[0] === "ssh") {
    try {
      await Deno.stat(`${resolved}.pub`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return `its public key ${JSON.stringify(`${resolved}.pub`)} does not exist`;
      }
      throw error;
    }
  }
  return undefined;
}
