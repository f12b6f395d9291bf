// Names in the three namespaces of an image: the POSIX name Rock Ridge keeps, the ISO 9660
// level 1 identifier (8.3, d-characters) and the Joliet identifier (UCS-2, 64 characters),
// with the checks of the first and the deterministic mangling of the other two.

/** Longest Rock Ridge name, in UTF-8 bytes: POSIX NAME_MAX. */
export const ROCK_RIDGE_NAME_MAX = 255;

/** Longest Joliet name, in UTF-16 code units, its ";1" not counted. */
export const JOLIET_NAME_MAX = 64;

/** Longest symbolic link target, in UTF-8 bytes: PATH_MAX less its NUL. */
export const SYMLINK_TARGET_MAX = 4095;

const encoder = new TextEncoder();

/** The reason a path component cannot be a Rock Ridge name, or undefined when it can. */
export function componentProblem(name: string): string | undefined {
  if (name === "") return "it has an empty component";
  if (name === "." || name === "..") return `it has a "${name}" component`;
  if (name.includes("\0")) return "it contains NUL";
  if (!name.isWellFormed()) return "it contains a lone UTF-16 surrogate";
  const bytes = encoder.encode(name).length;
  if (bytes > ROCK_RIDGE_NAME_MAX) {
    return `its component "${name.slice(0, 20)}..." is ${bytes} bytes long, ` +
      `Rock Ridge names hold ${ROCK_RIDGE_NAME_MAX}`;
  }
  return undefined;
}

/** The reason a string cannot be a symbolic link's target, or undefined when it can. */
export function targetProblem(target: string): string | undefined {
  if (typeof target !== "string" || target === "") return "the target is empty";
  if (target.includes("\0")) return "the target contains NUL";
  if (!target.isWellFormed()) return "the target contains a lone UTF-16 surrogate";
  if (encoder.encode(target).length > SYMLINK_TARGET_MAX) {
    return `the target is longer than ${SYMLINK_TARGET_MAX} bytes`;
  }
  if (target !== "/" && (target.slice(1).includes("//") || target.endsWith("/"))) {
    return "the target has an empty component (a doubled or trailing /)";
  }
  return undefined;
}

/** A name split into the parts ECMA-119 sorts and mangles separately. */
interface Parts {
  base: string;
  ext: string;
}

function upperDChars(text: string): string {
  let out = "";
  for (const ch of text) {
    const upper = ch >= "a" && ch <= "z" ? ch.toUpperCase() : ch;
    out += /^[A-Z0-9_]$/.test(upper) ? upper : "_";
  }
  return out;
}

function splitExtension(name: string): Parts {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? { base: name.slice(0, dot), ext: name.slice(dot + 1) } : { base: name, ext: "" };
}

/**
 * Gives each name of a directory a unique identifier: its natural form when no earlier name took
 * it, else a numbered variant no other natural form uses. Names must come in a fixed order.
 */
function uniqueForms(
  natural: readonly Parts[],
  key: (p: Parts) => string,
  variant: (p: Parts, n: number) => Parts,
): Parts[] {
  const taken = new Set(natural.map(key));
  const used = new Set<string>();
  const nextNumber = new Map<string, number>();
  return natural.map((parts) => {
    const natural = key(parts);
    if (!used.has(natural)) {
      used.add(natural);
      return parts;
    }
    for (let n = nextNumber.get(natural) ?? 1;; n++) {
      const candidate = variant(parts, n);
      const k = key(candidate);
      if (!taken.has(k) && !used.has(k)) {
        used.add(k);
        nextNumber.set(natural, n + 1);
        return candidate;
      }
    }
  });
}

/** One entry of a directory, as the namers see it. */
export interface NamedEntry {
  name: string;
  directory: boolean;
}

/**
 * ISO 9660 level 1 identifiers: d-characters, 8.3 for files (with ";1"), 8 for directories.
 * Unique as Linux shows them with `norock,nojoliet` (lower case, no ";1", no trailing dot).
 */
export function isoIdentifiers(entries: readonly NamedEntry[]): string[] {
  const natural = entries.map(({ name, directory }): Parts => {
    if (directory) return { base: upperDChars(name).slice(0, 8), ext: "" };
    const { base, ext } = splitExtension(name);
    return { base: upperDChars(base).slice(0, 8), ext: upperDChars(ext).slice(0, 3) };
  });
  const forms = uniqueForms(
    natural,
    (p) => p.ext === "" ? p.base : `${p.base}.${p.ext}`,
    (p, n) => ({ base: p.base.slice(0, 8 - String(n).length) + n, ext: p.ext }),
  );
  return forms.map((p, i) => entries[i].directory ? p.base : `${p.base}.${p.ext};1`);
}

const JOLIET_FORBIDDEN = "*/:;?\\";

/** Characters Joliet does not allow (its section 3.3), and trailing dots, which readers drop. */
function jolietSafe(name: string): string {
  let safe = "";
  for (const ch of name) safe += ch < " " || JOLIET_FORBIDDEN.includes(ch) ? "_" : ch;
  const trailing = safe.length - safe.replace(/\.+$/, "").length;
  return safe.slice(0, safe.length - trailing) + "_".repeat(trailing);
}

/** Cuts a string to at most `units` UTF-16 code units without splitting a surrogate pair. */
function cutUnits(text: string, units: number): string {
  let out = "";
  for (const ch of text) {
    if (out.length + ch.length > units) break;
    out += ch;
  }
  return out;
}

/**
 * Joliet identifiers: the name with the characters Joliet refuses turned into "_", ";1" after
 * files. Unique case-insensitively, as Windows compares them. Names must already fit
 * {@linkcode JOLIET_NAME_MAX}.
 */
export function jolietIdentifiers(entries: readonly NamedEntry[]): string[] {
  const natural = entries.map(({ name, directory }): Parts =>
    directory ? { base: jolietSafe(name), ext: "" } : splitExtension(jolietSafe(name))
  );
  const join = (p: Parts) => p.ext === "" ? p.base : `${p.base}.${p.ext}`;
  const forms = uniqueForms(natural, (p) => join(p).toUpperCase(), (p, n) => {
    const suffix = `~${n}`;
    const room = JOLIET_NAME_MAX - suffix.length - (p.ext === "" ? 0 : p.ext.length + 1);
    return { base: cutUnits(p.base, Math.max(room, 1)) + suffix, ext: p.ext };
  });
  return forms.map((p, i) => entries[i].directory ? join(p) : `${join(p)};1`);
}

/** The parts ECMA-119 9.3 orders a directory by: name, then extension, then version. */
function sortParts(id: string): Parts {
  const semicolon = id.lastIndexOf(";");
  const bare = semicolon >= 0 ? id.slice(0, semicolon) : id;
  const dot = bare.lastIndexOf(".");
  return dot >= 0
    ? { base: bare.slice(0, dot), ext: bare.slice(dot + 1) }
    : { base: bare, ext: "" };
}

function comparePadded(a: string, b: string): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = i < a.length ? a.charCodeAt(i) : 0x20;
    const y = i < b.length ? b.charCodeAt(i) : 0x20;
    if (x !== y) return x - y;
  }
  return 0;
}

/**
 * Orders identifiers as ECMA-119 9.3 orders directory records (and 6.9.1 path table records):
 * by name then extension, each padded with spaces, compared by code unit.
 */
export function compareIdentifiers(a: string, b: string): number {
  const x = sortParts(a);
  const y = sortParts(b);
  return comparePadded(x.base, y.base) || comparePadded(x.ext, y.ext);
}
