// The shared libraries an ELF executable loads, found the way glibc's ld.so finds them in the
// common case: for an initramfs that must carry a host program with everything it needs.

import { elfSegments, parseElfHeader } from "../binfmt/elf.ts";

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** What an ELF object says about its dynamic linking. */
export interface ElfDynamic {
  /** `e_machine`. */
  machine: number;
  /** 32 or 64 bits. */
  bits: 32 | 64;
  /** Byte order. */
  endian: "little" | "big";
  /** `PT_INTERP`: the dynamic loader's path, when the object names one. */
  interpreter?: string;
  /** `DT_NEEDED` entries, in order. */
  needed: string[];
  /** `DT_RPATH` directories, unexpanded. */
  rpath: string[];
  /** `DT_RUNPATH` directories, unexpanded. */
  runpath: string[];
}

/**
 * Reads the dynamic-linking facts of a whole ELF file: interpreter, `DT_NEEDED`, `DT_RPATH` and
 * `DT_RUNPATH`.
 *
 * @param bytes The whole file.
 * @returns Its facts; a static executable has no interpreter and nothing needed.
 * @throws {TypeError} When the bytes are not ELF, or the dynamic section is cut short.
 */
export function readElfDynamic(bytes: Uint8Array): ElfDynamic {
  const header = parseElfHeader(bytes);
  const segments = elfSegments(bytes);
  const le = header.endian === "little";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const result: ElfDynamic = {
    machine: header.machine,
    bits: header.bits,
    endian: header.endian,
    needed: [],
    rpath: [],
    runpath: [],
  };
  const interp = segments.find((s) => s.type === PT_INTERP);
  if (interp !== undefined) {
    if (interp.offset + interp.size > bytes.length) {
      throw new TypeError("the interpreter path runs past the file's end");
    }
    result.interpreter = decoder.decode(bytes.subarray(interp.offset, interp.offset + interp.size))
      .replace(/\0+$/, "");
  }
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic === undefined) return result;
  if (dynamic.offset + dynamic.size > bytes.length) {
    throw new TypeError("the dynamic section runs past the file's end");
  }
  const entrySize = header.bits === 64 ? 16 : 8;
  const entries: [number, number][] = [];
  for (let at = dynamic.offset; at + entrySize <= dynamic.offset + dynamic.size; at += entrySize) {
    const tag = header.bits === 64 ? Number(view.getBigInt64(at, le)) : view.getInt32(at, le);
    const value = header.bits === 64
      ? Number(view.getBigUint64(at + 8, le))
      : view.getUint32(at + 4, le);
    if (tag === DT_NULL) break;
    entries.push([tag, value]);
  }
  const strtabAddress = entries.find(([tag]) => tag === DT_STRTAB)?.[1];
  const strtabSize = entries.find(([tag]) => tag === DT_STRSZ)?.[1];
  if (strtabAddress === undefined) return result;
  // DT_STRTAB is an address: the PT_LOAD segment that maps it says where it is in the file.
  const load = segments.find((s) =>
    s.type === PT_LOAD && strtabAddress >= s.vaddr && strtabAddress < s.vaddr + s.size
  );
  if (load === undefined) {
    throw new TypeError(`no loaded segment holds the string table (address ${strtabAddress})`);
  }
  const strtab = load.offset + (strtabAddress - load.vaddr);
  const end = Math.min(bytes.length, strtabSize === undefined ? bytes.length : strtab + strtabSize);
  const string = (offset: number): string => {
    const start = strtab + offset;
    let stop = start;
    while (stop < end && bytes[stop] !== 0) stop++;
    if (stop >= end) throw new TypeError(`string ${offset} runs past the string table's end`);
    return decoder.decode(bytes.subarray(start, stop));
  };
  for (const [tag, value] of entries) {
    if (tag === DT_NEEDED) result.needed.push(string(value));
    if (tag === DT_RPATH) result.rpath.push(...string(value).split(":").filter(Boolean));
    if (tag === DT_RUNPATH) result.runpath.push(...string(value).split(":").filter(Boolean));
  }
  return result;
}

/** One library an executable loads. */
export interface ElfLibrary {
  /** The name asked for (`DT_NEEDED`), such as `libc.so.6`. */
  name: string;
  /** The path it was found at, symbolic links not resolved (what `ldd` prints). */
  path: string;
  /** The file that path resolves to. */
  file: string;
  /** Whether it was found in a directory the loader searches without `ld.so.cache`. */
  inDefaultDirs: boolean;
}

/** What an executable needs to run: its loader and its libraries. */
export interface ElfClosure {
  /** The executable's ELF facts. */
  elf: ElfDynamic;
  /** The loader (`PT_INTERP`) and the file it resolves to, when dynamically linked. */
  interpreter?: { path: string; file: string };
  /** Every library, in the breadth-first order ld.so loads them. */
  libraries: ElfLibrary[];
}

/** Options of {@linkcode elfClosure}. */
export interface ElfClosureOptions {
  /** Root the paths are looked up under (a sysroot); default `/`. */
  root?: string;
  /** Directories searched after `DT_RUNPATH`; default: from `/etc/ld.so.conf` under the root. */
  configuredDirs?: readonly string[];
}

/** The directories glibc's ld.so searches last, for a machine and class. */
export function defaultLibraryDirs(machine: number, bits: 32 | 64): string[] {
  const triplet = TRIPLETS[`${machine}/${bits}`];
  const dirs = triplet === undefined ? [] : [`/lib/${triplet}`, `/usr/lib/${triplet}`];
  if (bits === 64) dirs.push("/lib64", "/usr/lib64");
  dirs.push("/lib", "/usr/lib");
  return dirs;
}

// Debian's multiarch triplets by e_machine and class.
const TRIPLETS: Record<string, string> = {
  "62/64": "x86_64-linux-gnu",
  "3/32": "i386-linux-gnu",
  "183/64": "aarch64-linux-gnu",
  "40/32": "arm-linux-gnueabihf",
  "21/64": "powerpc64le-linux-gnu",
  "22/64": "s390x-linux-gnu",
  "243/64": "riscv64-linux-gnu",
  "8/64": "mips64el-linux-gnuabi64",
  "8/32": "mipsel-linux-gnu",
};

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

/**
 * Reads the directories of an `ld.so.conf` and the files it includes, in order.
 *
 * @param root The sysroot, `""` for the host.
 * @param file The file, such as `/etc/ld.so.conf`.
 * @returns The directories; none when the file does not exist.
 */
export async function ldSoConfDirs(root: string, file = "/etc/ld.so.conf"): Promise<string[]> {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const read = async (path: string): Promise<void> => {
    if (seen.has(path)) return;
    seen.add(path);
    let text: string;
    try {
      text = await Deno.readTextFile(`${root}${path}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") continue;
      const include = /^include\s+(.+)$/.exec(line);
      if (include === null) {
        dirs.push(...line.split(/[:\s,]+/).filter(Boolean));
        continue;
      }
      for (const pattern of include[1].split(/\s+/)) {
        const absolute = pattern.startsWith("/") ? pattern : `${dirname(path)}/${pattern}`;
        for (const match of await glob(root, absolute)) await read(match);
      }
    }
  };
  await read(file);
  return dirs;
}

/** Expands a `*` in the last component of a path, sorted as glob(3) does. */
async function glob(root: string, pattern: string): Promise<string[]> {
  const dir = dirname(pattern);
  const base = pattern.slice(dir.length + 1);
  if (!base.includes("*") && !base.includes("?")) return [pattern];
  const re = new RegExp(
    `^${base.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`,
  );
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      if (re.test(entry.name) && !entry.name.startsWith(".")) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names.sort().map((name) => `${dir}/${name}`);
}

/**
 * Finds everything an ELF executable loads: its interpreter and every `DT_NEEDED` library,
 * recursively, breadth first as ld.so loads them. Each name is searched in the `DT_RPATH` of
 * the object and its loaders (when the object has no `DT_RUNPATH`), its `DT_RUNPATH`, the
 * directories of `ld.so.conf`, then the loader's default directories (multiarch, `lib64`, `lib`,
 * `usr/lib`); `$ORIGIN` is expanded; a library of another machine or class is passed over, as
 * ld.so does.
 *
 * @param path The executable.
 * @param options Sysroot and search directories.
 * @returns The interpreter and the libraries.
 * @throws {TypeError} When the file or a library is not ELF.
 * @throws {Deno.errors.NotFound} When the file or a library cannot be found (naming it and
 *   the object that needs it).
 */
export async function elfClosure(
  path: string,
  options: ElfClosureOptions = {},
): Promise<ElfClosure> {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  const read = async (file: string, what: string): Promise<ElfDynamic> => {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${root}${file}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot read ${what} "${file}": file does not exist`);
      }
      throw error;
    }
    try {
      return readElfDynamic(bytes);
    } catch (error) {
      throw new TypeError(
        `Cannot read ${what} "${file}": it is not an ELF file (${(error as Error).message})`,
        { cause: error },
      );
    }
  };
  const realFile = async (file: string): Promise<string> => {
    const real = await Deno.realPath(`${root}${file}`);
    return root === "" ? real : real.slice(root.length);
  };
  const elf = await read(path, "executable");
  const closure: ElfClosure = { elf, libraries: [] };
  if (elf.interpreter !== undefined) {
    if (!(await exists(`${root}${elf.interpreter}`))) {
      throw new Deno.errors.NotFound(
        `Cannot find the loader "${elf.interpreter}" that "${path}" needs: file does not exist`,
      );
    }
    closure.interpreter = { path: elf.interpreter, file: await realFile(elf.interpreter) };
  }
  const configured = options.configuredDirs ?? await ldSoConfDirs(root);
  const defaults = defaultLibraryDirs(elf.machine, elf.bits);
  const compatible = (other: ElfDynamic) =>
    other.machine === elf.machine && other.bits === elf.bits && other.endian === elf.endian;
  const expand = (dir: string, origin: string): string | undefined => {
    const expanded = dir.replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin);
    // $LIB and $PLATFORM depend on the loader's build: not followed.
    return expanded.includes("$") ? undefined : expanded;
  };
  const realExecutable = await realFile(path);
  interface Queued {
    path: string;
    elf: ElfDynamic;
    /** DT_RPATH of this object's loaders, expanded, nearest last. */
    inheritedRpath: string[];
  }
  const loaded = new Map<string, ElfLibrary | "loader">();
  // libc names the loader as DT_NEEDED: ld.so matches it to itself, as ldd shows.
  if (elf.interpreter !== undefined) {
    loaded.set(elf.interpreter.slice(elf.interpreter.lastIndexOf("/") + 1), "loader");
  }
  const queue: Queued[] = [{ path: realExecutable, elf, inheritedRpath: [] }];
  while (queue.length > 0) {
    const object = queue.shift()!;
    const origin = dirname(object.path);
    const ownRpath = object.elf.rpath.map((d) => expand(d, origin)).filter((d) => d !== undefined);
    const rpath = object.elf.runpath.length > 0 ? [] : [...ownRpath, ...object.inheritedRpath];
    const runpath = object.elf.runpath.map((d) => expand(d, origin)).filter((d) => d !== undefined);
    for (const name of object.elf.needed) {
      if (loaded.has(name)) continue;
      let found: { path: string; elf: ElfDynamic; inDefaultDirs: boolean } | undefined;
      if (name.includes("/")) {
        found = { path: name, elf: await read(name, `library "${name}" of`), inDefaultDirs: false };
      } else {
        for (const dir of [...rpath, ...runpath, ...configured, ...defaults]) {
          const candidate = `${dir.replace(/\/+$/, "")}/${name}`;
          if (!(await exists(`${root}${candidate}`))) continue;
          const candidateElf = await read(candidate, "library");
          if (!compatible(candidateElf)) continue;
          found = { path: candidate, elf: candidateElf, inDefaultDirs: defaults.includes(dir) };
          break;
        }
      }
      if (found === undefined) {
        throw new Deno.errors.NotFound(
          `Cannot find library "${name}" that "${object.path}" needs: it is in none of ${
            JSON.stringify([...new Set([...rpath, ...runpath, ...configured, ...defaults])])
          }`,
        );
      }
      const library: ElfLibrary = {
        name,
        path: found.path,
        file: await realFile(found.path),
        inDefaultDirs: found.inDefaultDirs,
      };
      loaded.set(name, library);
      closure.libraries.push(library);
      queue.push({
        path: found.path,
        elf: found.elf,
        inheritedRpath: object.elf.runpath.length > 0 ? [] : rpath,
      });
    }
  }
  return closure;
}
