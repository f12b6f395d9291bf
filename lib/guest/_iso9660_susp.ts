// System Use Sharing Protocol (SUSP, IEEE P1281) and Rock Ridge (RRIP 1.09, "RRIP_1991A")
// entries, and their split between a directory record and continuation areas.

import { putBoth32, SECTOR } from "./_iso9660_records.ts";

/** Length of a CE entry, which points at the next continuation area. */
export const CE_LENGTH = 28;

/** Largest payload of one entry: its length field is one byte and its header four. */
const ENTRY_PAYLOAD = 255 - 4;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function entry(signature: string, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(4 + payload.length);
  bytes[0] = signature.charCodeAt(0);
  bytes[1] = signature.charCodeAt(1);
  bytes[2] = bytes.length;
  bytes[3] = 1; // entry version
  bytes.set(payload, 4);
  return bytes;
}

function prefixed(head: number[], body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

/** SP: SUSP is in use; first entry of the root's "." record (SUSP 5.3). */
export function spEntry(): Uint8Array {
  return entry("SP", Uint8Array.of(0xbe, 0xef, 0));
}

/** CE: the rest of this record's entries are at `block`, `offset`, `length` (SUSP 5.1). */
export function ceEntry(block: number, offset: number, length: number): Uint8Array {
  const payload = new Uint8Array(24);
  putBoth32(payload, 0, block);
  putBoth32(payload, 8, offset);
  putBoth32(payload, 16, length);
  return entry("CE", payload);
}

/** ER: names the extension in use, Rock Ridge 1.09, with its standard texts (RRIP 4.3). */
export function erEntry(): Uint8Array {
  const encoder = new TextEncoder();
  const id = encoder.encode("RRIP_1991A");
  const description = encoder.encode(
    "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS",
  );
  const source = encoder.encode(
    "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  " +
      "SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.",
  );
  const payload = new Uint8Array(4 + id.length + description.length + source.length);
  payload.set([id.length, description.length, source.length, 1]);
  payload.set(id, 4);
  payload.set(description, 4 + id.length);
  payload.set(source, 4 + id.length + description.length);
  return entry("ER", payload);
}

/** The kinds of node Rock Ridge describes here. */
export type RockKind = "dir" | "file" | "symlink";

/** PX: POSIX mode with its file type, link count, owner root (RRIP 4.1.1, 1.09 form). */
export function pxEntry(kind: RockKind, permissions: number, links: number): Uint8Array {
  const type = kind === "dir" ? S_IFDIR : kind === "file" ? S_IFREG : S_IFLNK;
  const payload = new Uint8Array(32);
  putBoth32(payload, 0, type | permissions);
  putBoth32(payload, 8, links);
  putBoth32(payload, 16, 0);
  putBoth32(payload, 24, 0);
  return entry("PX", payload);
}

/** TF: modification, access and attribute-change times, all `date` (RRIP 4.1.6). */
export function tfEntry(date: Uint8Array): Uint8Array {
  const payload = new Uint8Array(1 + 3 * date.length);
  payload[0] = 0x02 | 0x04 | 0x08;
  for (let i = 0; i < 3; i++) payload.set(date, 1 + i * date.length);
  return entry("TF", payload);
}

/** NM: the POSIX name, over as many entries as it needs, all but the last flagged CONTINUE. */
export function nmEntries(name: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  const room = ENTRY_PAYLOAD - 1;
  for (let at = 0; at < name.length; at += room) {
    const piece = name.subarray(at, at + room);
    const last = at + room >= name.length;
    entries.push(entry("NM", prefixed([last ? 0 : 1], piece)));
  }
  return entries;
}

/**
 * SL: a symbolic link's target as component records (root, ".", "..", or a name, a long name cut
 * into pieces flagged CONTINUE), packed into as many SL entries as they need, all but the last
 * flagged CONTINUE (RRIP 4.1.3). The target is already checked: no empty component but a leading
 * one for "/".
 */
export function slEntries(target: string): Uint8Array[] {
  const encoder = new TextEncoder();
  const components: Uint8Array[] = [];
  const parts = target.split("/");
  if (parts[0] === "") {
    components.push(Uint8Array.of(0x08, 0));
    parts.shift();
  }
  const pieceRoom = ENTRY_PAYLOAD - 1 - 2;
  for (const part of parts) {
    if (part === "") continue; // only after the root of "/"
    if (part === ".") components.push(Uint8Array.of(0x02, 0));
    else if (part === "..") components.push(Uint8Array.of(0x04, 0));
    else {
      const bytes = encoder.encode(part);
      for (let at = 0; at < bytes.length; at += pieceRoom) {
        const piece = bytes.subarray(at, at + pieceRoom);
        const continued = at + pieceRoom < bytes.length;
        components.push(prefixed([continued ? 0x01 : 0x00, piece.length], piece));
      }
    }
  }
  const groups: Uint8Array[][] = [[]];
  let used = 0;
  for (const component of components) {
    if (used + component.length > ENTRY_PAYLOAD - 1) {
      groups.push([]);
      used = 0;
    }
    groups.at(-1)!.push(component);
    used += component.length;
  }
  return groups.map((group, i) => {
    const flags = i < groups.length - 1 ? 1 : 0;
    const payload = new Uint8Array(1 + group.reduce((n, c) => n + c.length, 0));
    payload[0] = flags;
    let at = 1;
    for (const component of group) {
      payload.set(component, at);
      at += component.length;
    }
    return entry("SL", payload);
  });
}

/**
 * Entries split into areas: the first goes in the directory record, each next one in a
 * continuation area of at most a sector. `continued` areas end with a CE (not yet encoded) to
 * the next.
 */
export interface SystemUseArea {
  readonly entries: readonly Uint8Array[];
  readonly continued: boolean;
  /** Bytes the area takes, its CE included. */
  readonly length: number;
}

/** Splits entries, in order, into the record's room then continuation areas. */
export function splitSystemUse(
  entries: readonly Uint8Array[],
  recordRoom: number,
): SystemUseArea[] {
  const areas: SystemUseArea[] = [];
  let room = recordRoom;
  let i = 0;
  do {
    const rest = entries.slice(i).reduce((n, e) => n + e.length, 0);
    if (rest <= room) {
      areas.push({ entries: entries.slice(i), continued: false, length: rest });
      break;
    }
    const taken: Uint8Array[] = [];
    let used = 0;
    while (i < entries.length && used + entries[i].length + CE_LENGTH <= room) {
      taken.push(entries[i]);
      used += entries[i].length;
      i++;
    }
    areas.push({ entries: taken, continued: true, length: used + CE_LENGTH });
    room = SECTOR;
  } while (i < entries.length);
  return areas;
}

/** Encodes an area, with the CE to the next area when it has one. */
export function encodeArea(
  area: SystemUseArea,
  next?: { block: number; offset: number; length: number },
): Uint8Array {
  const bytes = new Uint8Array(area.length);
  let at = 0;
  for (const e of area.entries) {
    bytes.set(e, at);
    at += e.length;
  }
  if (area.continued) bytes.set(ceEntry(next!.block, next!.offset, next!.length), at);
  return bytes;
}
