// Lays a checked tree out as an ISO 9660 image: the ISO 9660 hierarchy with Rock Ridge entries,
// the Joliet hierarchy beside it, both pointing at the same file data.
//
// Sectors: 0-15 system area (zeros); 16 primary volume descriptor; 17 Joliet's supplementary
// one; then the terminator; the L and M path tables of each hierarchy; the ISO 9660
// directories, then the Joliet ones, in path table order; Rock Ridge continuation areas; file
// data in the order of the ISO 9660 directories.

import {
  asciiField,
  pathRecordLength,
  putDirectoryRecord,
  putPathRecord,
  putTerminator,
  putVolumeDescriptor,
  recordDate,
  recordLength,
  SECTOR,
  systemUseRoom,
  ucs2Field,
  utf16be,
} from "./_iso9660_records.ts";
import {
  encodeArea,
  erEntry,
  nmEntries,
  pxEntry,
  slEntries,
  spEntry,
  splitSystemUse,
  type SystemUseArea,
  tfEntry,
} from "./_iso9660_susp.ts";
import { compareIdentifiers, isoIdentifiers, jolietIdentifiers } from "./_iso9660_names.ts";

/** A directory of the checked tree. */
export interface TreeDirectory {
  readonly kind: "dir";
  readonly mode: number;
  readonly children: Map<string, TreeNode>;
}

/** A regular file of the checked tree. */
export interface TreeFile {
  readonly kind: "file";
  readonly mode: number;
  readonly data: Uint8Array;
}

/** A symbolic link of the checked tree. */
export interface TreeSymlink {
  readonly kind: "symlink";
  readonly target: string;
}

/** A node of the checked tree, named by its key in its parent's `children`. */
export type TreeNode = TreeDirectory | TreeFile | TreeSymlink;

/** What the layout needs besides the tree. */
export interface LayoutOptions {
  volumeId: string;
  date: Date;
  joliet: boolean;
}

/** Most directories a path table can number: its parent field has 16 bits. */
const MAX_DIRECTORIES = 0xffff;

const APPLICATION_ID = "VMKIT";
const encoder = new TextEncoder();
const JOLIET_UCS2_LEVEL_3 = Uint8Array.of(0x25, 0x2f, 0x45);

interface Entry {
  readonly name: string;
  readonly node: TreeNode;
  readonly id: Uint8Array;
  directory?: Directory;
}

interface Directory {
  readonly node: TreeDirectory;
  readonly parent: Directory | undefined;
  /** Its number in the path table, from 1. */
  number: number;
  readonly id: Uint8Array;
  readonly entries: Entry[];
  records: PlannedRecord[];
  size: number;
  lba: number;
}

interface PlannedRecord {
  readonly id: Uint8Array;
  /** What the record describes: its own directory, a subdirectory, a file or a link. */
  readonly target: Directory | TreeFile | TreeSymlink;
  readonly areas: SystemUseArea[];
  offset: number;
  /** Where each area after the first sits in the continuation sectors. */
  chunks: { sector: number; offset: number }[];
}

/** Builds the hierarchy of one namespace, directories in path table order. */
function hierarchy(root: TreeDirectory, joliet: boolean): Directory[] {
  const directories: Directory[] = [];
  const queue: Directory[] = [{
    node: root,
    parent: undefined,
    number: 0,
    id: Uint8Array.of(0),
    entries: [],
    records: [],
    size: 0,
    lba: 0,
  }];
  for (let next = 0; next < queue.length; next++) {
    const directory = queue[next];
    directories.push(directory);
    directory.number = directories.length;
    if (directories.length > MAX_DIRECTORIES) {
      throw new RangeError(
        `Cannot build the ISO image: it has more than ${MAX_DIRECTORIES} directories, ` +
          "the most a path table numbers",
      );
    }
    const children = [...directory.node.children]
      .filter(([, node]) => !(joliet && node.kind === "symlink"))
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    const named = children.map(([name, node]) => ({ name, directory: node.kind === "dir" }));
    const ids = joliet ? jolietIdentifiers(named) : isoIdentifiers(named);
    const order = ids.map((_, i) => i).sort((a, b) => compareIdentifiers(ids[a], ids[b]));
    for (const i of order) {
      const [name, node] = children[i];
      const id = joliet ? utf16be(ids[i]) : encoder.encode(ids[i]);
      const entry: Entry = { name, node, id };
      if (node.kind === "dir") {
        entry.directory = {
          node,
          parent: directory,
          number: 0,
          id,
          entries: [],
          records: [],
          size: 0,
          lba: 0,
        };
        queue.push(entry.directory);
      }
      directory.entries.push(entry);
    }
  }
  return directories;
}

function links(node: TreeDirectory): number {
  let count = 2;
  for (const child of node.children.values()) if (child.kind === "dir") count++;
  return count;
}

/** Plans each directory's records (with their Rock Ridge entries when `rock`) and its size. */
function planRecords(directories: Directory[], rock: boolean, date: Uint8Array): void {
  const tf = tfEntry(date);
  for (const directory of directories) {
    const parent = directory.parent ?? directory;
    const plans: { id: Uint8Array; target: PlannedRecord["target"]; su: Uint8Array[] }[] = [];
    const self = [pxEntry("dir", directory.node.mode, links(directory.node)), tf];
    if (directory.parent === undefined) {
      self.unshift(spEntry());
      self.push(erEntry());
    }
    plans.push({ id: Uint8Array.of(0), target: directory, su: self });
    plans.push({
      id: Uint8Array.of(1),
      target: parent,
      su: [pxEntry("dir", parent.node.mode, links(parent.node)), tf],
    });
    for (const entry of directory.entries) {
      const { node } = entry;
      const su = [
        node.kind === "dir"
          ? pxEntry("dir", node.mode, links(node))
          : node.kind === "file"
          ? pxEntry("file", node.mode, 1)
          : pxEntry("symlink", 0o777, 1),
        tf,
        ...nmEntries(encoder.encode(entry.name)),
        ...(node.kind === "symlink" ? slEntries(node.target) : []),
      ];
      plans.push({
        id: entry.id,
        target: entry.directory ?? (node as TreeFile | TreeSymlink),
        su,
      });
    }
    let offset = 0;
    directory.records = plans.map(({ id, target, su }) => {
      const areas = splitSystemUse(rock ? su : [], systemUseRoom(id.length));
      const length = recordLength(id.length, areas[0].length);
      if ((offset % SECTOR) + length > SECTOR) offset = Math.ceil(offset / SECTOR) * SECTOR;
      const record: PlannedRecord = { id, target, areas, offset, chunks: [] };
      offset += length;
      return record;
    });
    directory.size = Math.ceil(offset / SECTOR) * SECTOR;
  }
}

/** Places every continuation area, none across a sector boundary; returns the sectors used. */
function placeContinuations(directories: Directory[]): number {
  let sector = 0;
  let offset = 0;
  for (const directory of directories) {
    for (const record of directory.records) {
      for (const area of record.areas.slice(1)) {
        if (offset + area.length > SECTOR) {
          sector++;
          offset = 0;
        }
        record.chunks.push({ sector, offset });
        offset += area.length;
      }
    }
  }
  return offset > 0 ? sector + 1 : sector;
}

function pathTableSize(directories: Directory[]): number {
  return directories.reduce((n, d) => n + pathRecordLength(d.id.length), 0);
}

function sectors(bytes: number): number {
  return Math.ceil(bytes / SECTOR);
}

/** Lays the tree out and writes the image. */
export function writeImage(root: TreeDirectory, options: LayoutOptions): Uint8Array {
  const date = recordDate(options.date);
  const iso = hierarchy(root, false);
  const joliet = options.joliet ? hierarchy(root, true) : [];
  planRecords(iso, true, date);
  planRecords(joliet, false, date);
  const continuationSectors = placeContinuations(iso);

  let next = 16;
  const primary = next++;
  const supplementary = options.joliet ? next++ : 0;
  const terminator = next++;
  const tables = [iso, joliet].map((directories) => {
    const size = pathTableSize(directories);
    if (directories.length === 0) return { size, l: 0, m: 0 };
    const l = next;
    next += sectors(size);
    const m = next;
    next += sectors(size);
    return { size, l, m };
  });
  for (const directory of [...iso, ...joliet]) {
    directory.lba = next;
    next += directory.size / SECTOR;
  }
  const continuationStart = next;
  next += continuationSectors;
  const fileBlocks = new Map<TreeFile, number>();
  for (const directory of iso) {
    for (const { node } of directory.entries) {
      if (node.kind !== "file" || node.data.length === 0) continue;
      fileBlocks.set(node, next);
      next += sectors(node.data.length);
    }
  }

  const image = new Uint8Array(next * SECTOR);
  const where = (target: PlannedRecord["target"]) => {
    if ("records" in target) return { extent: target.lba, size: target.size, directory: true };
    if (target.kind === "file") {
      return { extent: fileBlocks.get(target) ?? 0, size: target.data.length, directory: false };
    }
    return { extent: 0, size: 0, directory: false };
  };
  for (const directory of [...iso, ...joliet]) {
    const base = directory.lba * SECTOR;
    for (const record of directory.records) {
      const areas = record.areas.map((area, i) => {
        const chunk = record.chunks[i];
        const next = record.areas[i + 1];
        return encodeArea(
          area,
          next && {
            block: continuationStart + chunk.sector,
            offset: chunk.offset,
            length: next.length,
          },
        );
      });
      putDirectoryRecord(image, base + record.offset, {
        ...where(record.target),
        date,
        id: record.id,
        systemUse: areas[0],
      });
      areas.slice(1).forEach((bytes, i) => {
        const chunk = record.chunks[i];
        image.set(bytes, (continuationStart + chunk.sector) * SECTOR + chunk.offset);
      });
    }
  }
  for (const [directories, table] of [[iso, tables[0]], [joliet, tables[1]]] as const) {
    let l = table.l * SECTOR;
    let m = table.m * SECTOR;
    for (const directory of directories) {
      const parent = (directory.parent ?? directory).number;
      const record = { id: directory.id, extent: directory.lba, parent };
      l += putPathRecord(image, l, record, true);
      m += putPathRecord(image, m, record, false);
    }
  }
  for (const [file, block] of fileBlocks) image.set(file.data, block * SECTOR);

  const rootRecord = (directories: Directory[]) => {
    const bytes = new Uint8Array(34);
    putDirectoryRecord(bytes, 0, {
      extent: directories[0].lba,
      size: directories[0].size,
      date,
      directory: true,
      id: Uint8Array.of(0),
      systemUse: new Uint8Array(),
    });
    return bytes;
  };
  putVolumeDescriptor(image.subarray(primary * SECTOR, (primary + 1) * SECTOR), {
    type: 1,
    text: asciiField,
    volumeId: options.volumeId,
    applicationId: APPLICATION_ID,
    volumeBlocks: next,
    pathTableSize: tables[0].size,
    lPathTable: tables[0].l,
    mPathTable: tables[0].m,
    root: rootRecord(iso),
    date: options.date,
  });
  if (options.joliet) {
    putVolumeDescriptor(image.subarray(supplementary * SECTOR, (supplementary + 1) * SECTOR), {
      type: 2,
      text: ucs2Field,
      volumeId: options.volumeId.slice(0, 16),
      applicationId: APPLICATION_ID,
      escapes: JOLIET_UCS2_LEVEL_3,
      volumeBlocks: next,
      pathTableSize: tables[1].size,
      lPathTable: tables[1].l,
      mPathTable: tables[1].m,
      root: rootRecord(joliet),
      date: options.date,
    });
  }
  putTerminator(image.subarray(terminator * SECTOR, (terminator + 1) * SECTOR));
  return image;
}
