// The fixed-layout structures of ECMA-119 (ISO 9660): both-byte-order numbers, the two date
// forms, directory records, path table records and volume descriptors.

/** The logical sector (and block) size of every image this writer makes. */
export const SECTOR = 2048;

/** A directory record's length must be even and fit its one-byte length field. */
export const MAX_RECORD = 254;

/** Length of a directory record's fixed part, before its identifier (ECMA-119 9.1). */
const RECORD_FIXED = 33;

/** Writes a 16-bit number little-endian then big-endian (ECMA-119 7.2.3). */
export function putBoth16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = bytes[at + 3] = value & 0xff;
  bytes[at + 1] = bytes[at + 2] = (value >>> 8) & 0xff;
}

/** Writes a 32-bit number little-endian then big-endian (ECMA-119 7.3.3). */
export function putBoth32(bytes: Uint8Array, at: number, value: number): void {
  for (let i = 0; i < 4; i++) bytes[at + i] = bytes[at + 7 - i] = (value >>> (8 * i)) & 0xff;
}

/** The 7-byte date of a directory record and of Rock Ridge's TF entry, in UTC (ECMA-119 9.1.5). */
export function recordDate(date: Date): Uint8Array {
  return Uint8Array.of(
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0,
  );
}

/**
 * The 17-byte date of a volume descriptor, in UTC (ECMA-119 8.4.26.1); without a date, the
 * "not specified" form: sixteen ASCII zeros and a zero offset.
 */
export function volumeDate(date?: Date): Uint8Array {
  const bytes = new Uint8Array(17);
  if (date === undefined) {
    bytes.fill(0x30, 0, 16);
    return bytes;
  }
  const two = (n: number) => String(n).padStart(2, "0");
  const text = String(date.getUTCFullYear()).padStart(4, "0") + two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) + two(date.getUTCHours()) + two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) + two(Math.floor(date.getUTCMilliseconds() / 10));
  for (let i = 0; i < 16; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** The length a directory record with this identifier and system use area takes, padded even. */
export function recordLength(idLength: number, suLength: number): number {
  const length = RECORD_FIXED + idLength + (idLength % 2 === 0 ? 1 : 0) + suLength;
  return length + (length % 2);
}

/** Room left for the system use area of a record with this identifier. */
export function systemUseRoom(idLength: number): number {
  return MAX_RECORD - recordLength(idLength, 0);
}

/** What one directory record says (ECMA-119 9.1). */
export interface DirectoryRecord {
  /** First logical block of the extent. */
  extent: number;
  /** Data length in bytes. */
  size: number;
  /** The 7-byte recording date. */
  date: Uint8Array;
  directory: boolean;
  /** File or directory identifier; `[0]` for "." and the root, `[1]` for "..". */
  id: Uint8Array;
  /** System use area (SUSP entries), already encoded. */
  systemUse: Uint8Array;
}

/** Writes a directory record at `at` and returns its length. */
export function putDirectoryRecord(bytes: Uint8Array, at: number, record: DirectoryRecord): number {
  const length = recordLength(record.id.length, record.systemUse.length);
  bytes[at] = length;
  bytes[at + 1] = 0; // extended attribute record length
  putBoth32(bytes, at + 2, record.extent);
  putBoth32(bytes, at + 10, record.size);
  bytes.set(record.date, at + 18);
  bytes[at + 25] = record.directory ? 0x02 : 0x00;
  bytes[at + 26] = 0; // file unit size
  bytes[at + 27] = 0; // interleave gap
  putBoth16(bytes, at + 28, 1); // volume sequence number
  bytes[at + 32] = record.id.length;
  bytes.set(record.id, at + RECORD_FIXED);
  const suAt = at + RECORD_FIXED + record.id.length + (record.id.length % 2 === 0 ? 1 : 0);
  bytes.set(record.systemUse, suAt);
  return length;
}

/** The length of a path table record with this directory identifier (ECMA-119 9.4). */
export function pathRecordLength(idLength: number): number {
  return 8 + idLength + (idLength % 2);
}

/** Writes a path table record at `at` in the L (little-endian) or M (big-endian) table. */
export function putPathRecord(
  bytes: Uint8Array,
  at: number,
  record: { id: Uint8Array; extent: number; parent: number },
  littleEndian: boolean,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bytes[at] = record.id.length;
  bytes[at + 1] = 0;
  view.setUint32(at + 2, record.extent, littleEndian);
  view.setUint16(at + 6, record.parent, littleEndian);
  bytes.set(record.id, at + 8);
  return pathRecordLength(record.id.length);
}

/** What differs between the primary and the Joliet supplementary volume descriptor. */
export interface VolumeDescriptor {
  /** 1: primary; 2: supplementary. */
  type: 1 | 2;
  /** Encodes an identifier field, padded to its length with the descriptor's spaces. */
  text: (value: string, length: number) => Uint8Array;
  volumeId: string;
  applicationId: string;
  /** Escape sequences naming the character set (Joliet's UCS-2 level). */
  escapes?: Uint8Array;
  volumeBlocks: number;
  pathTableSize: number;
  lPathTable: number;
  mPathTable: number;
  /** The root's 34-byte directory record. */
  root: Uint8Array;
  date: Date;
}

/** Writes a primary or supplementary volume descriptor into its 2048-byte sector. */
export function putVolumeDescriptor(sector: Uint8Array, d: VolumeDescriptor): void {
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  sector[0] = d.type;
  sector.set(new TextEncoder().encode("CD001"), 1);
  sector[6] = 1;
  sector.set(d.text("", 32), 8); // system identifier
  sector.set(d.text(d.volumeId, 32), 40);
  putBoth32(sector, 80, d.volumeBlocks);
  if (d.escapes !== undefined) sector.set(d.escapes, 88);
  putBoth16(sector, 120, 1); // volume set size
  putBoth16(sector, 124, 1); // volume sequence number
  putBoth16(sector, 128, SECTOR);
  putBoth32(sector, 132, d.pathTableSize);
  view.setUint32(140, d.lPathTable, true);
  view.setUint32(148, d.mPathTable, false);
  sector.set(d.root, 156);
  sector.set(d.text("", 128), 190); // volume set identifier
  sector.set(d.text("", 128), 318); // publisher
  sector.set(d.text("", 128), 446); // data preparer
  sector.set(d.text(d.applicationId, 128), 574);
  sector.set(d.text("", 37), 702); // copyright file
  sector.set(d.text("", 37), 739); // abstract file
  sector.set(d.text("", 37), 776); // bibliographic file
  sector.set(volumeDate(d.date), 813); // creation
  sector.set(volumeDate(d.date), 830); // modification
  sector.set(volumeDate(), 847); // expiration: not specified
  sector.set(volumeDate(), 864); // effective: not specified
  sector[881] = 1; // file structure version
}

/** The volume descriptor set terminator (ECMA-119 8.3). */
export function putTerminator(sector: Uint8Array): void {
  sector[0] = 255;
  sector.set(new TextEncoder().encode("CD001"), 1);
  sector[6] = 1;
}

/** An a-character field: ASCII, padded with spaces. */
export function asciiField(value: string, length: number): Uint8Array {
  const bytes = new Uint8Array(length).fill(0x20);
  for (let i = 0; i < value.length && i < length; i++) bytes[i] = value.charCodeAt(i);
  return bytes;
}

/** A Joliet field: UCS-2 big-endian, padded with UCS-2 spaces (an odd last byte stays 0). */
export function ucs2Field(value: string, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i + 1 < length; i += 2) {
    const unit = i / 2 < value.length ? value.charCodeAt(i / 2) : 0x20;
    bytes[i] = unit >> 8;
    bytes[i + 1] = unit & 0xff;
  }
  return bytes;
}

/** UTF-16 big-endian bytes of a string (Joliet identifiers). */
export function utf16be(value: string): Uint8Array {
  const bytes = new Uint8Array(value.length * 2);
  for (let i = 0; i < value.length; i++) {
    bytes[2 * i] = value.charCodeAt(i) >> 8;
    bytes[2 * i + 1] = value.charCodeAt(i) & 0xff;
  }
  return bytes;
}
