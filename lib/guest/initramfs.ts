/**
 * An immutable initramfs builder: files, directories, links and device nodes, a static busybox
 * with its applet links, kernel modules with their dependencies, and the init script.
 *
 * @module
 */

import {
  type CpioDeviceOptions,
  type CpioEntryOptions,
  CpioWriter,
  normalizeArchivePath,
} from "./cpio.ts";
import { busyboxApplets } from "./busybox_applets.ts";
import { elfInterpreter, parseElfHeader } from "../binfmt/elf.ts";
import { moduleName, parseModulesDep, resolveModules } from "./modules_dep.ts";
import { isDeviceAlias, parseModulesAlias } from "./modules_alias.ts";
import { defaultInit } from "./default_init.ts";
import { gzip } from "./_gzip.ts";
import { defaultLibraryDirs, elfClosure } from "./_elf_libraries.ts";

type Entry =
  | { kind: "file"; data: Uint8Array | { hostPath: string }; options: CpioEntryOptions }
  | { kind: "directory"; options: CpioEntryOptions }
  | { kind: "symlink"; target: string; options: CpioEntryOptions }
  | { kind: "device"; options: CpioDeviceOptions };

interface State {
  readonly entries: ReadonlyMap<string, Entry>;
  readonly busybox?: string | Uint8Array;
  readonly modules: readonly {
    readonly dir: string;
    readonly names: readonly string[];
    readonly load: ModuleLoading;
  }[];
  readonly init?: string;
  readonly executables: readonly { readonly hostPath: string; readonly as: string }[];
}

/** Where the init script finds the modules to load at boot, one archive path a line, in load order. */
export const MODULE_LIST_PATH = "etc/vmkit/modules";

/**
 * When the init loads a module: `"on-demand"` when a device it drives is present, at boot or
 * hot-added later (a module that drives no device, or has no `modules.alias` entry, still
 * loads at boot); `"boot"` always at boot.
 */
export type ModuleLoading = "on-demand" | "boot";

/** Options of {@linkcode Initramfs.executable}. */
export interface InitramfsExecutableOptions {
  /** Path of the executable in the image. Default: its host path. */
  as?: string;
}

/** Options of {@linkcode Initramfs.modules}. */
export interface InitramfsModulesOptions {
  /** When the init loads the modules. Default `"on-demand"`. */
  load?: ModuleLoading;
}

const encoder = new TextEncoder();

/**
 * Starts an empty initramfs description.
 *
 * @returns A builder with `/dev/console` and the usual top-level directories.
 *
 * @example Build a busybox initramfs that loads virtio-blk
 * ```ts
 * import { initramfs } from "@vmkit/vmkit";
 * const image: Uint8Array = await initramfs()
 *   .busybox("/bin/busybox")
 *   .modules("/lib/modules/6.1.0-56-cloud-amd64", ["virtio_blk"])
 *   .buildGzip();
 * ```
 */
export function initramfs(): Initramfs {
  return new Initramfs();
}

function baseState(): State {
  const entries = new Map<string, Entry>();
  for (const dir of ["bin", "dev", "etc", "proc", "root", "run", "sys"]) {
    entries.set(dir, { kind: "directory", options: {} });
  }
  entries.set("tmp", { kind: "directory", options: { mode: 0o1777 } });
  entries.set("root", { kind: "directory", options: { mode: 0o700 } });
  // The kernel opens /dev/console before init runs; without it init has no stdio.
  entries.set("dev/console", {
    kind: "device",
    options: { type: "char", major: 5, minor: 1, mode: 0o600 },
  });
  return { entries, modules: [], executables: [] };
}

/**
 * An immutable description of an initramfs. Every method returns a new builder, so a base can be
 * shared; nothing is read from disk until {@linkcode Initramfs.build}. Entries are written sorted
 * by path with times 0, so the same inputs give the same bytes.
 */
export class Initramfs {
  #state: State = baseState();

  #with(change: Partial<State>): Initramfs {
    const next = new Initramfs();
    next.#state = { ...this.#state, ...change };
    return next;
  }

  #withEntry(path: string, entry: Entry): Initramfs {
    const entries = new Map(this.#state.entries);
    entries.set(normalizeArchivePath(path), entry);
    return this.#with({ entries });
  }

  /**
   * Adds a file with the given content.
   *
   * @param path Path in the image.
   * @param data Bytes, or text written as UTF-8.
   * @param options Mode (default `0o644`), owner, time.
   * @returns A new builder.
   * @throws {TypeError} When the path is invalid.
   */
  file(path: string, data: Uint8Array | string, options: CpioEntryOptions = {}): Initramfs {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    return this.#withEntry(path, { kind: "file", data: bytes, options });
  }

  /**
   * Adds a file copied from the host when the image is built.
   *
   * @param path Path in the image.
   * @param hostPath File to copy.
   * @param options Mode (default: the host file's permission bits), owner, time.
   * @returns A new builder.
   * @throws {TypeError} When the path is invalid.
   */
  copy(path: string, hostPath: string, options: CpioEntryOptions = {}): Initramfs {
    return this.#withEntry(path, { kind: "file", data: { hostPath }, options });
  }

  /**
   * Adds a directory (parents of every entry are added automatically).
   *
   * @param path Path in the image.
   * @param options Mode (default `0o755`), owner, time.
   * @returns A new builder.
   */
  directory(path: string, options: CpioEntryOptions = {}): Initramfs {
    return this.#withEntry(path, { kind: "directory", options });
  }

  /**
   * Adds a symbolic link.
   *
   * @param path Path of the link in the image.
   * @param target What it points to.
   * @param options Owner, time.
   * @returns A new builder.
   * @throws {TypeError} When the target is empty or contains NUL.
   */
  symlink(path: string, target: string, options: CpioEntryOptions = {}): Initramfs {
    if (target === "" || target.includes("\0")) {
      throw new TypeError(
        `Cannot add symlink "${path}": target ${JSON.stringify(target)} is empty or contains NUL`,
      );
    }
    return this.#withEntry(path, { kind: "symlink", target, options });
  }

  /**
   * Adds a device node.
   *
   * @param path Path of the node in the image.
   * @param options Type, major, minor, mode, owner.
   * @returns A new builder.
   */
  device(path: string, options: CpioDeviceOptions): Initramfs {
    return this.#withEntry(path, { kind: "device", options });
  }

  /**
   * Adds a static busybox as `/bin/busybox` with a link in `/bin` for each of its applets, and
   * `/sbin`, `/usr/bin`, `/usr/sbin` as links to `/bin`. The applets are read from the binary
   * itself, so a busybox of any architecture works.
   *
   * @param binary Host path of the busybox binary, or its bytes.
   * @returns A new builder.
   */
  busybox(binary: string | Uint8Array): Initramfs {
    return this.#with({ busybox: binary });
  }

  /**
   * Adds a host ELF executable with everything it loads: its interpreter (`PT_INTERP`) and every
   * `DT_NEEDED` library, recursively, found as glibc's ld.so finds them (`DT_RPATH`/`DT_RUNPATH`
   * with `$ORIGIN`, `/etc/ld.so.conf`, then the multiarch, `lib64`, `lib` and `usr/lib`
   * directories). The loader and libraries keep the paths they were found at, with the content
   * of the files those resolve to; a library found only through `ld.so.conf` also gets a link in
   * the loader's first default directory, as the image has no `ld.so.cache`. A path under one of
   * the image's directory links (busybox's `/usr/sbin` → `/bin`) goes where the link points. A
   * static executable is copied alone. Nothing is read until {@linkcode Initramfs.build}.
   *
   * @param hostPath The executable on the host.
   * @param options Its path in the image.
   * @returns A new builder.
   * @throws {TypeError} When a path is not absolute.
   *
   * @example Put the host's QEMU guest agent in an image
   * ```ts
   * import { initramfs } from "@vmkit/vmkit";
   * const image = await initramfs().busybox("/bin/busybox").executable("/usr/sbin/qemu-ga").build();
   * ```
   */
  executable(hostPath: string, options: InitramfsExecutableOptions = {}): Initramfs {
    const as = options.as ?? hostPath;
    for (const [what, path] of [["executable", hostPath], ["its path in the image", as]]) {
      if (typeof path !== "string" || !path.startsWith("/")) {
        throw new TypeError(
          `Cannot add executable ${JSON.stringify(hostPath)}: ${what} ${
            JSON.stringify(path)
          } is not an absolute path`,
        );
      }
    }
    normalizeArchivePath(as);
    return this.#with({ executables: [...this.#state.executables, { hostPath, as }] });
  }

  /**
   * Adds kernel modules and everything they depend on, resolved from `modules.dep` in the
   * modules directory. The image gets its own `modules.dep` and `modules.alias` for them, so
   * `modprobe` works in the guest, and the init loads each module as `options.load` says: by
   * default, a driver loads when its device is present, at boot or hot-added later; modules
   * listed for boot go in `/etc/vmkit/modules`, in load order.
   *
   * @param modulesDir A `lib/modules/<version>` directory that has `modules.dep` (and, for
   *   loading on demand, `modules.alias`).
   * @param names Module names, `-` and `_` alike; modules built into the kernel are accepted.
   * @param options When the init loads them.
   * @returns A new builder.
   * @throws {TypeError} When a name is empty or `load` is not `"on-demand"` or `"boot"`.
   */
  modules(
    modulesDir: string,
    names: readonly string[],
    options: InitramfsModulesOptions = {},
  ): Initramfs {
    for (const name of names) {
      if (typeof name !== "string" || moduleName(name) === "") {
        throw new TypeError(`Cannot add module ${JSON.stringify(name)}: the name is empty`);
      }
    }
    const load = options.load ?? "on-demand";
    if (load !== "on-demand" && load !== "boot") {
      throw new TypeError(
        `Cannot add modules with load ${JSON.stringify(load)}: use "on-demand" or "boot"`,
      );
    }
    return this.#with({ modules: [...this.#state.modules, { dir: modulesDir, names, load }] });
  }

  /**
   * Sets `/init`. Without it the image gets {@linkcode defaultInit}: mount /proc, /sys, /dev,
   * load the modules, start a shell on the console.
   *
   * @param script The init script, with its `#!` line.
   * @returns A new builder.
   * @throws {TypeError} When the script has no `#!` line.
   */
  init(script: string): Initramfs {
    if (!script.startsWith("#!")) {
      throw new TypeError(
        `Cannot set init ${JSON.stringify(script.slice(0, 40))}: it must start with "#!"`,
      );
    }
    return this.#with({ init: script });
  }

  /**
   * Reads the host files and writes the archive.
   *
   * @returns The uncompressed cpio archive.
   * @throws {Deno.errors.NotFound} When a host file is missing (the message names it).
   * @throws {RangeError} When a module cannot be resolved.
   * @throws {TypeError} When the busybox is not a busybox, or is dynamically linked; when an
   *   executable is not ELF, or is for another machine than the busybox.
   * @throws {Deno.errors.NotFound} When a library an executable needs is missing (naming both).
   */
  async build(): Promise<Uint8Array> {
    const entries = new Map(this.#state.entries);
    const set = (path: string, entry: Entry) => entries.set(normalizeArchivePath(path), entry);

    if (this.#state.busybox !== undefined) {
      const binary = typeof this.#state.busybox === "string"
        ? await readHostFile(this.#state.busybox, "busybox")
        : this.#state.busybox;
      const source = typeof this.#state.busybox === "string"
        ? `"${this.#state.busybox}"`
        : "(bytes)";
      let applets: string[];
      try {
        applets = busyboxApplets(binary);
      } catch (error) {
        throw new TypeError(
          `Cannot add busybox ${source} to the initramfs: it is not a busybox binary (it has no applet table); use a static busybox, such as /bin/busybox of Debian's busybox-static`,
          { cause: error },
        );
      }
      let interpreter: string | undefined;
      try {
        interpreter = elfInterpreter(binary);
      } catch {
        interpreter = undefined;
      }
      if (interpreter !== undefined) {
        throw new TypeError(
          `Cannot add busybox ${source} to the initramfs: it is dynamically linked (it needs ${interpreter} and its libraries, which the initramfs does not have); use a static busybox, such as /bin/busybox of Debian's busybox-static`,
        );
      }
      set("bin/busybox", { kind: "file", data: binary, options: { mode: 0o755 } });
      for (const applet of applets) {
        if (applet === "busybox") continue;
        set(`bin/${applet}`, { kind: "symlink", target: "busybox", options: {} });
      }
      for (const dir of ["sbin", "usr/bin", "usr/sbin"]) {
        set(dir, { kind: "symlink", target: dir === "sbin" ? "bin" : "../bin", options: {} });
      }
    }

    for (const { hostPath, as } of this.#state.executables) {
      await addExecutable(entries, hostPath, as, this.#state.busybox);
    }

    const loadOrder: string[] = [];
    // Per kernel version: the modules.dep and modules.alias lines of the modules in the image.
    const depLines = new Map<string, Map<string, string>>();
    const aliasLines = new Map<string, Set<string>>();
    for (const { dir, names, load } of this.#state.modules) {
      const root = dir.replace(/\/+$/, "");
      const version = root.slice(root.lastIndexOf("/") + 1);
      const dep = parseHostFile(
        `${root}/modules.dep`,
        await readHostText(`${root}/modules.dep`, "modules.dep"),
        parseModulesDep,
      );
      const builtinText = await readOptionalText(`${root}/modules.builtin`);
      const builtin = new Set(builtinText.split("\n").filter(Boolean).map(moduleName));
      const aliases = parseHostFile(
        `${root}/modules.alias`,
        await readOptionalText(`${root}/modules.alias`),
        parseModulesAlias,
      );
      const versionDeps = depLines.get(version) ?? new Map<string, string>();
      depLines.set(version, versionDeps);
      const versionAliases = aliasLines.get(version) ?? new Set<string>();
      aliasLines.set(version, versionAliases);
      for (const module of resolveModules(dep, names, { builtin })) {
        const target = `lib/modules/${version}/${module.path}`;
        set(target, { kind: "file", data: { hostPath: `${root}/${module.path}` }, options: {} });
        versionDeps.set(module.path, `${module.path}: ${module.dependencies.join(" ")}`.trim());
        for (const pattern of aliases.get(module.name) ?? []) {
          versionAliases.add(`alias ${pattern} ${module.name}`);
        }
      }
      const atBoot = load === "boot"
        ? names
        : names.filter((name) => !(aliases.get(moduleName(name)) ?? []).some(isDeviceAlias));
      for (const module of resolveModules(dep, atBoot, { builtin })) {
        const target = `/lib/modules/${version}/${module.path}`;
        if (!loadOrder.includes(target)) loadOrder.push(target);
      }
    }
    const lines = (list: Iterable<string>) =>
      encoder.encode([...list].map((l) => `${l}\n`).join(""));
    for (const [version, deps] of depLines) {
      set(`lib/modules/${version}/modules.dep`, {
        kind: "file",
        data: lines(deps.values()),
        options: {},
      });
      const aliases = aliasLines.get(version)!;
      set(`lib/modules/${version}/modules.alias`, {
        kind: "file",
        data: lines(aliases),
        options: {},
      });
    }
    set(MODULE_LIST_PATH, { kind: "file", data: lines(loadOrder), options: {} });
    set("init", {
      kind: "file",
      data: encoder.encode(this.#state.init ?? defaultInit()),
      options: { mode: 0o755 },
    });

    // Every parent directory exists, and entries are sorted so parents come first.
    for (const path of [...entries.keys()]) {
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join("/");
        if (!entries.has(parent)) entries.set(parent, { kind: "directory", options: {} });
      }
    }
    const writer = new CpioWriter();
    for (const path of [...entries.keys()].sort()) {
      const entry = entries.get(path)!;
      switch (entry.kind) {
        case "file": {
          if (entry.data instanceof Uint8Array) {
            writer.file(path, entry.data, entry.options);
          } else {
            const hostPath = entry.data.hostPath;
            const data = await readHostFile(hostPath, `"/${path}"`);
            const mode = entry.options.mode ?? ((await Deno.stat(hostPath)).mode ?? 0o644) & 0o7777;
            writer.file(path, data, { ...entry.options, mode });
          }
          break;
        }
        case "directory":
          writer.directory(path, entry.options);
          break;
        case "symlink":
          writer.symlink(path, entry.target, entry.options);
          break;
        case "device":
          writer.device(path, entry.options);
          break;
      }
    }
    return writer.finish();
  }

  /**
   * Builds the archive and compresses it with gzip, as kernels expect an initrd.
   *
   * @returns The gzip-compressed cpio archive.
   */
  async buildGzip(): Promise<Uint8Array> {
    return await gzip(await this.build());
  }
}

/** Where a path lands in the image once its directory links (`usr/sbin` → `../bin`) are followed. */
function followLinks(entries: ReadonlyMap<string, Entry>, path: string): string {
  const parts = normalizeArchivePath(path).split("/");
  for (let hops = 0; hops < 40; hops++) {
    let changed = false;
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      const entry = entries.get(prefix);
      if (entry?.kind !== "symlink") continue;
      const base = entry.target.startsWith("/") ? [] : parts.slice(0, i - 1);
      const resolved: string[] = [];
      for (const part of [...base, ...entry.target.split("/"), ...parts.slice(i)]) {
        if (part === "" || part === ".") continue;
        if (part === "..") resolved.pop();
        else resolved.push(part);
      }
      parts.splice(0, parts.length, ...resolved);
      changed = true;
      break;
    }
    if (!changed) return parts.join("/");
  }
  throw new RangeError(`Cannot place "${path}" in the initramfs: its directory links loop`);
}

async function addExecutable(
  entries: Map<string, Entry>,
  hostPath: string,
  as: string,
  busybox: string | Uint8Array | undefined,
): Promise<void> {
  let closure;
  try {
    closure = await elfClosure(hostPath);
  } catch (error) {
    // elfClosure's messages name the file and what needs it; say which executable was added.
    if (!(error instanceof Error)) throw error;
    const own = `Cannot read executable "${hostPath}": `;
    const reason = error.message.startsWith(own)
      ? error.message.slice(own.length)
      : error.message.replace(/^Cannot /, "cannot ");
    throw new (error.constructor as ErrorConstructor)(
      `Cannot add executable "${hostPath}" to the initramfs: ${reason}`,
      { cause: error },
    );
  }
  if (busybox !== undefined) {
    const bytes = typeof busybox === "string" ? await readHostFile(busybox, "busybox") : busybox;
    const guest = parseElfHeader(bytes);
    if (guest.machine !== closure.elf.machine || guest.bits !== closure.elf.bits) {
      throw new TypeError(
        `Cannot add executable "${hostPath}" to the initramfs: it is for ELF machine ${closure.elf.machine} (${closure.elf.bits}-bit), the image's busybox for ${guest.machine} (${guest.bits}-bit); use a build of it for the guest's architecture`,
      );
    }
  }
  const put = (path: string, file: string, mode?: number) =>
    entries.set(followLinks(entries, path), {
      kind: "file",
      data: { hostPath: file },
      options: mode === undefined ? {} : { mode },
    });
  put(as, await Deno.realPath(hostPath), 0o755);
  if (closure.interpreter !== undefined) {
    put(closure.interpreter.path, closure.interpreter.file);
  }
  const firstDefault = defaultLibraryDirs(closure.elf.machine, closure.elf.bits)[0];
  for (const library of closure.libraries) {
    put(library.path, library.file);
    if (!library.inDefaultDirs && !library.name.includes("/")) {
      const link = followLinks(entries, `${firstDefault}/${library.name}`);
      if (!entries.has(link)) {
        entries.set(link, { kind: "symlink", target: library.path, options: {} });
      }
    }
  }
}

async function readHostFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw annotate(error, `Cannot add ${what} to the initramfs from "${path}"`);
  }
}

/** Parses a host file's text, naming the file in a parse error. */
function parseHostFile<T>(path: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new SyntaxError(`${error.message} (in "${path}")`, { cause: error });
  }
}

async function readHostText(path: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readHostFile(path, what));
}

async function readOptionalText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

function annotate(error: unknown, action: string): Error {
  if (error instanceof Deno.errors.NotFound) {
    return new Deno.errors.NotFound(`${action}: file does not exist`, { cause: error });
  }
  if (error instanceof Error) {
    return new (error.constructor as ErrorConstructor)(`${action}: ${error.message}`, {
      cause: error,
    });
  }
  return new Error(`${action}: ${String(error)}`);
}
