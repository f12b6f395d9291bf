/**
 * cloud-init seeds in pure TypeScript: a NoCloud ISO (label `cidata`) or an OpenStack
 * ConfigDrive ISO (label `config-2`), with user-data from a typed `#cloud-config` object or raw
 * text.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dump, load } from "npm:js-yaml@^5.5.0";
import { isoImage } from "./iso9660.ts";
import { encodeBase64 } from "../_base64.ts";

/** A command for `runcmd` or `bootcmd`: a shell line, or an argv run without a shell. */
export type CloudConfigCommand = string | readonly string[];

/** A user for `users` (cloud-init's `users_groups` module); keys as cloud-init spells them. */
export interface CloudConfigUser {
  /** The login name. */
  name: string;
  /** The full name (GECOS field). */
  gecos?: string;
  /** Supplementary groups: a list, or one comma-separated string. */
  groups?: string | readonly string[];
  /** The primary group (default: a group named after the user). */
  primary_group?: string;
  /** A sudoers rule such as `"ALL=(ALL) NOPASSWD:ALL"`, several, or `false` for none. */
  sudo?: string | readonly string[] | false;
  /** The login shell. */
  shell?: string;
  /** The home directory (default `/home/<name>`). */
  homedir?: string;
  /** Lock the password (cloud-init's default `true`): SSH keys only. */
  lock_passwd?: boolean;
  /** A password hash (`mkpasswd -m sha-512`). */
  passwd?: string;
  /** A password hash, as `passwd`. */
  hashed_passwd?: string;
  /** A clear-text password (it stays readable in the seed). */
  plain_text_passwd?: string;
  /** Public keys allowed to log in as this user. */
  ssh_authorized_keys?: readonly string[];
  /** A system user (no home directory, low uid). */
  system?: boolean;
  /** The user id. */
  uid?: number;
  /** Make no home directory. */
  no_create_home?: boolean;
  /** Any other key of cloud-init's user schema, written as given. */
  [key: string]: unknown;
}

/** A file for `write_files`. */
export interface CloudConfigFile {
  /** Absolute path in the guest. */
  path: string;
  /** Text, or bytes (written base64 with `encoding: b64`). */
  content?: string | Uint8Array;
  /** How `content` is encoded; set to `b64` for bytes. */
  encoding?: "b64" | "base64" | "gz" | "gzip" | "gz+b64" | "gzip+base64" | "text/plain";
  /** `"user:group"`. */
  owner?: string;
  /** `"0644"`, or a number (`0o644`), which cloud-init takes as the mode itself. */
  permissions?: string | number;
  /** Append to the file instead of replacing it. */
  append?: boolean;
  /** Write after packages are installed and users made (cloud-init 22.2 and later). */
  defer?: boolean;
  /** Any other key of cloud-init's `write_files` schema, written as given. */
  [key: string]: unknown;
}

/**
 * A `#cloud-config` document. The common keys are typed; any other key of cloud-init's
 * modules is written as given. Keys are cloud-init's own, so its documentation applies as
 * written.
 */
export interface CloudConfig {
  /** The host name (`set_hostname` module). */
  hostname?: string;
  /** The fully qualified host name. */
  fqdn?: string;
  /** Leave the image's host name alone. */
  preserve_hostname?: boolean;
  /** Write `/etc/hosts` from cloud-init's template (`true` or `"template"`) or `"localhost"`. */
  manage_etc_hosts?: boolean | "localhost" | "template";
  /** Users to make; `"default"` keeps the image's default user. */
  users?: readonly ("default" | CloudConfigUser)[];
  /** Keys for the default user. */
  ssh_authorized_keys?: readonly string[];
  /** Allow SSH password logins. */
  ssh_pwauth?: boolean;
  /** Refuse root logins over SSH (cloud-init's default `true`). */
  disable_root?: boolean;
  /** Host key types to generate (`["ed25519"]` saves seconds under TCG). */
  ssh_genkeytypes?: readonly string[];
  /** The default user's password. */
  password?: string;
  /** Passwords to set, and whether they expire at first login. */
  chpasswd?: {
    /** Make the users change their password at first login (cloud-init's default `true`). */
    expire?: boolean;
    /** The users and their passwords (`type` `"text"`, `"hash"` or `"RANDOM"`). */
    users?: readonly { name: string; password?: string; type?: "text" | "hash" | "RANDOM" }[];
    /** Any other key of `chpasswd`, written as given. */
    [key: string]: unknown;
  };
  /** Files to write. */
  write_files?: readonly CloudConfigFile[];
  /** Commands run early on every boot. */
  bootcmd?: readonly CloudConfigCommand[];
  /** Commands run once, late in the first boot. */
  runcmd?: readonly CloudConfigCommand[];
  /** Package names, or `[name, version]`. */
  packages?: readonly (string | readonly [string, string])[];
  /** Update the package index first. */
  package_update?: boolean;
  /** Upgrade the installed packages. */
  package_upgrade?: boolean;
  /** Reboot when an upgrade asks for it. */
  package_reboot_if_required?: boolean;
  /** The time zone, as `Europe/Paris`. */
  timezone?: string;
  /** The system locale, or `false` to leave it. */
  locale?: string | false;
  /** What cloud-init logs when it is done. */
  final_message?: string;
  /** Power off, reboot or halt when cloud-init is done. */
  power_state?: {
    /** What to do. */
    mode: "poweroff" | "reboot" | "halt";
    /** `"now"`, or minutes as `"+5"`. */
    delay?: number | string;
    /** A message for the shutdown. */
    message?: string;
    /** Seconds to wait for cloud-init's other work first. */
    timeout?: number;
    /** Only when this holds (a command's success, or a boolean). */
    condition?: boolean | string | readonly string[];
  };
  /** Any other key of cloud-init's modules, written as given. */
  [key: string]: unknown;
}

/** NoCloud's `meta-data`. Without `instance-id` one is made from the seed's content. */
export interface NoCloudMetaData {
  /** The instance id; cloud-init runs its once-per-instance steps when it changes. */
  "instance-id"?: string;
  /** The host name cloud-init sets when user-data names none. */
  "local-hostname"?: string;
  /** Any other meta-data key, written as given. */
  [key: string]: unknown;
}

/**
 * A network configuration, version 1 or 2 (netplan-like), optionally under a top-level
 * `network` key, or `{ config: "disabled" }`.
 */
export interface CloudInitNetworkConfig {
  /** The format: 1 (cloud-init's own) or 2 (netplan's). */
  version?: 1 | 2;
  /** The whole configuration under a `network` key, as some providers write it. */
  network?: Record<string, unknown>;
  /** `"disabled"`: cloud-init configures no network. */
  config?: "disabled";
  /** The rest of the configuration (`ethernets`, `config: [...]`, ...). */
  [key: string]: unknown;
}

/** Options of {@linkcode cloudInit}. */
export interface CloudInitOptions {
  /**
   * A `#cloud-config` document as an object, or raw user-data passed as is, which must start
   * with a marker cloud-init acts on: `#cloud-config`, `#!` (a script), `#include`,
   * `#include-once`, `#cloud-boothook`, `#part-handler`, `#cloud-config-archive`,
   * `#cloud-config-jsonp`, `## template: jinja`, or be a MIME multipart message (a
   * `MIME-Version:` header in its first 4096 bytes). `""` is empty user-data.
   */
  userData: string | CloudConfig;
  /** `meta-data`: instance id, host name. */
  metaData?: NoCloudMetaData;
  /** `network-config`: an object written as YAML, or YAML text. */
  networkConfig?: string | CloudInitNetworkConfig;
  /** `vendor-data`, in the forms of `userData`. */
  vendorData?: string | CloudConfig;
  /** The image's date; see {@linkcode isoImage}. */
  date?: Date;
}

/** OpenStack's `meta_data.json`. Without `uuid` (the instance id) one is made from the content. */
export interface ConfigDriveMetaData {
  /** The instance id. */
  uuid?: string;
  /** The host name. */
  hostname?: string;
  /** The instance's name. */
  name?: string;
  /** SSH keys by name, for the default user. */
  public_keys?: Record<string, string>;
  /** The availability zone. */
  availability_zone?: string;
  /** Any other key of OpenStack's meta-data, written as given. */
  [key: string]: unknown;
}

/** Options of {@linkcode configDrive}. */
export interface ConfigDriveOptions {
  /** `user_data`, in the forms of {@linkcode CloudInitOptions.userData}. */
  userData?: string | CloudConfig;
  /** `meta_data.json`: instance id, host name, keys. */
  metaData?: ConfigDriveMetaData;
  /** OpenStack's `network_data.json` (`links`, `networks`, `services`). */
  networkData?: Record<string, unknown>;
  /** Written as `vendor_data.json`, `{"cloud-init": ...}`. */
  vendorData?: string | CloudConfig;
  /** The image's date; see {@linkcode isoImage}. */
  date?: Date;
}

/** A seed image and what is in it. */
export interface CloudInitSeed {
  /** The volume label cloud-init looks for: `cidata` or `config-2`. */
  readonly label: string;
  /** The instance id given or made: cloud-init runs its once-per-instance steps when it changes. */
  readonly instanceId: string;
  /** Each file's path in the image and its text. */
  readonly files: Readonly<Record<string, string>>;
  /** The ISO 9660 image. */
  readonly bytes: Uint8Array;
  /**
   * Writes the image to `path`, created with mode `0o600` (user-data can hold password
   * hashes).
   */
  write(path: string): Promise<void>;
}

const USER_DATA_MARKERS = [
  "#include-once",
  "#include",
  "#!",
  "#cloud-config-archive",
  "#cloud-config-jsonp",
  "#cloud-config",
  "#part-handler",
  "#cloud-boothook",
  "## template: jinja",
];

/**
 * Writes a `#cloud-config` document: the header line, then the object as YAML (block style,
 * strings that YAML 1.1 would read as something else quoted, keys in the order given, `undefined`
 * values left out, bytes in `write_files` as base64, SSH keys without the line break they end
 * with in a `.pub` file).
 *
 * @param config The document.
 * @returns The user-data text.
 * @throws {TypeError} When the document is not a plain object, holds a value YAML cannot carry
 *   (a function, a class instance, a non-finite number), a user without a name, a file without
 *   an absolute path, or an SSH key with a line break.
 *
 * @example
 * ```ts
 * import { cloudConfig } from "@vmkit/vmkit";
 * const text = cloudConfig({ hostname: "vm1", runcmd: [["touch", "/run/booted"]] });
 * // #cloud-config\nhostname: vm1\nruncmd:\n  - - touch\n    - /run/booted\n
 * ```
 */
export function cloudConfig(config: CloudConfig): string {
  const data = plainData(config, "cloud-config") as Record<string, unknown>;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new TypeError("Cannot write cloud-config: the document must be an object");
  }
  checkCloudConfig(data);
  return `#cloud-config\n${Object.keys(data).length === 0 ? "" : yaml(data)}`;
}

/**
 * Builds a NoCloud seed: an ISO 9660 image labelled `cidata` with `user-data`, `meta-data`, and
 * `network-config` and `vendor-data` when given, named with Rock Ridge and Joliet so the guest
 * sees those exact names.
 *
 * Attach it where the guest's kernel can read it: `.drive(path, { format: "raw", readOnly:
 * true })` is a virtio-blk disk, which every Debian kernel reads. Debian's cloud kernel has no
 * AHCI driver, so on q35 a SATA CD-ROM (`interface: "ide"`) is never seen and cloud-init finds
 * no seed; a virtio-scsi CD-ROM (`interface: "scsi", media: "cdrom"`) needs `sr_mod`.
 *
 * Without `instance-id` in `metaData`, it is `iid-` and 16 hex digits of the SHA-256 of the
 * other files: the same seed keeps its id (cloud-init does not run its first-boot steps again),
 * a changed one gets a new id (they run again). The bytes are reproducible (see
 * {@linkcode isoImage}).
 *
 * @param options User-data, meta-data, network config, vendor-data, date.
 * @returns The seed's bytes, files and instance id, and a helper writing it to a file.
 * @throws {TypeError} When user-data or vendor-data text starts with no marker cloud-init acts
 *   on, `#cloud-config` text is not a YAML mapping, a typed document is invalid (see
 *   {@linkcode cloudConfig}), or meta-data or the network config is not of its form.
 *
 * @example Seed a VM with a user and a first-boot command
 * ```ts
 * import { cloudInit, vm } from "@vmkit/vmkit";
 * const key = (await Deno.readTextFile(`${Deno.env.get("HOME")}/.ssh/id_ed25519.pub`)).trim();
 * const seed = cloudInit({
 *   userData: {
 *     users: [{ name: "me", sudo: "ALL=(ALL) NOPASSWD:ALL", ssh_authorized_keys: [key] }],
 *     runcmd: ["echo done > /run/first-boot"],
 *   },
 *   metaData: { "local-hostname": "vm1" },
 * });
 * await seed.write("/tmp/seed.iso");
 * await using guest = await vm({ arch: "x86_64" })
 *   .drive("/tmp/debian.qcow2")
 *   .drive("/tmp/seed.iso", { format: "raw", readOnly: true })
 *   .launch();
 * ```
 */
export function cloudInit(options: CloudInitOptions): CloudInitSeed {
  const files: Record<string, string> = {};
  files["user-data"] = userDataText(options.userData, "user-data");
  const meta = plainObject(options.metaData ?? {}, "meta-data");
  for (const key of ["instance-id", "local-hostname"]) {
    if (meta[key] !== undefined && (typeof meta[key] !== "string" || meta[key] === "")) {
      throw new TypeError(
        `Cannot build the NoCloud seed: meta-data ${key} must be a non-empty string`,
      );
    }
  }
  const { "instance-id": given, ...rest } = meta;
  if (options.networkConfig !== undefined) {
    files["network-config"] = networkConfigText(options.networkConfig);
  }
  if (options.vendorData !== undefined) {
    files["vendor-data"] = userDataText(options.vendorData, "vendor-data");
  }
  const instanceId = (given as string | undefined) ?? `iid-${digest(files, rest).slice(0, 16)}`;
  files["meta-data"] = yaml({ "instance-id": instanceId, ...rest });
  return seed("cidata", instanceId, files, options.date);
}

/**
 * Builds an OpenStack ConfigDrive seed: an ISO 9660 image labelled `config-2` with
 * `openstack/latest/meta_data.json`, and `user_data`, `network_data.json` and
 * `vendor_data.json` when given. cloud-init's ConfigDrive source reads it where no NoCloud
 * seed is; attach it as {@linkcode cloudInit} says.
 *
 * Without `uuid` in `metaData` one is made from the SHA-256 of the other files (an RFC 9562
 * version 8 UUID), as {@linkcode cloudInit} makes its instance id.
 *
 * @param options User-data, meta-data, network data, vendor-data, date.
 * @returns The seed's bytes, files and instance id, and a helper writing it to a file.
 * @throws {TypeError} As {@linkcode cloudInit}, and when network data is not an object.
 *
 * @example
 * ```ts
 * import { configDrive } from "@vmkit/vmkit";
 * const seed = configDrive({
 *   userData: { runcmd: ["touch /run/from-config-drive"] },
 *   metaData: { hostname: "vm1", public_keys: { me: "ssh-ed25519 AAAAC3Nza me@host" } },
 * });
 * console.log(seed.label, seed.instanceId, Object.keys(seed.files));
 * ```
 */
export function configDrive(options: ConfigDriveOptions): CloudInitSeed {
  const base = "openstack/latest";
  const files: Record<string, string> = {};
  if (options.userData !== undefined) {
    files[`${base}/user_data`] = userDataText(options.userData, "user_data");
  }
  if (options.networkData !== undefined) {
    files[`${base}/network_data.json`] = json(plainObject(options.networkData, "network_data"));
  }
  if (options.vendorData !== undefined) {
    files[`${base}/vendor_data.json`] = json({
      "cloud-init": userDataText(options.vendorData, "vendor_data"),
    });
  }
  const { uuid: given, ...rest } = plainObject(options.metaData ?? {}, "meta_data");
  if (given !== undefined && (typeof given !== "string" || given === "")) {
    throw new TypeError(
      "Cannot build the ConfigDrive seed: meta_data uuid must be a non-empty string",
    );
  }
  const uuid = (given as string | undefined) ?? uuidFrom(digest(files, rest));
  files[`${base}/meta_data.json`] = json({ uuid, ...rest });
  return seed("config-2", uuid, files, options.date);
}

function seed(
  label: string,
  instanceId: string,
  files: Record<string, string>,
  date?: Date,
): CloudInitSeed {
  const bytes = isoImage({ volumeId: label, files, date });
  return {
    label,
    instanceId,
    files,
    bytes,
    write: (path: string) => Deno.writeFile(path, bytes, { mode: 0o600 }),
  };
}

function yaml(data: unknown): string {
  return dump(data, { lineWidth: -1, noRefs: true });
}

function json(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/** SHA-256 of the files (by name) and the rest of the meta-data, hex. */
function digest(files: Record<string, string>, meta: Record<string, unknown>): string {
  const hash = createHash("sha256");
  for (const name of Object.keys(files).sort()) hash.update(`${name}\0${files[name]}\0`);
  hash.update(JSON.stringify(meta));
  return hash.digest("hex");
}

function uuidFrom(hex: string): string {
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${
    hex.slice(17, 20)
  }-${hex.slice(20, 32)}`;
}

/** User-data text from a typed document, or raw text checked for a marker cloud-init acts on. */
function userDataText(data: string | CloudConfig, what: string): string {
  if (typeof data !== "string") return cloudConfig(data);
  if (data.trim() === "") return data;
  const start = data.trimStart().toLowerCase();
  const marker = USER_DATA_MARKERS.find((m) => start.startsWith(m));
  if (marker === undefined && !data.slice(0, 4096).toLowerCase().includes("mime-version:")) {
    throw new TypeError(
      `Cannot build the cloud-init seed: ${what} starts with ${
        JSON.stringify(data.trimStart().slice(0, 24))
      }, which cloud-init ignores; start it with #cloud-config, #!, #include, #cloud-boothook, ` +
        "#part-handler, #cloud-config-archive, ## template: jinja, or write a MIME multipart " +
        "message, or pass a CloudConfig object",
    );
  }
  const blank = data.split("\n").every((line) => /^\s*(#.*)?$/.test(line));
  if (marker === "#cloud-config" && !blank) {
    let parsed: unknown;
    try {
      parsed = load(data);
    } catch (error) {
      throw new TypeError(
        `Cannot build the cloud-init seed: ${what} is #cloud-config but not YAML: ${
          (error as Error).message.split("\n")[0]
        }`,
        { cause: error },
      );
    }
    if (
      parsed !== null && parsed !== undefined &&
      (typeof parsed !== "object" || Array.isArray(parsed))
    ) {
      throw new TypeError(
        `Cannot build the cloud-init seed: ${what} is #cloud-config but not a YAML mapping`,
      );
    }
  }
  return data;
}

function networkConfigText(config: string | CloudInitNetworkConfig): string {
  if (typeof config === "string") return config;
  const data = plainObject(config, "network-config");
  const inner =
    (typeof data.network === "object" && data.network !== null ? data.network : data) as Record<
      string,
      unknown
    >;
  if (inner.config !== "disabled" && inner.version !== 1 && inner.version !== 2) {
    throw new TypeError(
      `Cannot build the NoCloud seed: network-config version must be 1 or 2, not ${
        JSON.stringify(inner.version)
      } (or config: "disabled")`,
    );
  }
  return yaml(data);
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  const data = plainData(value, what);
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new TypeError(`Cannot build the cloud-init seed: ${what} must be an object`);
  }
  return data as Record<string, unknown>;
}

/**
 * A copy holding only what YAML and JSON carry: plain objects (without their `undefined`
 * values), arrays, strings, finite numbers, booleans and null; bytes in `write_files` content.
 */
function plainData(value: unknown, path: string): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (Array.isArray(value)) return value.map((item, i) => plainData(item, `${path}[${i}]`));
  if (value instanceof Uint8Array && /\.write_files\[\d+\]\.content$/.test(path)) return value;
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item !== undefined) copy[key] = plainData(item, `${path}.${key}`);
    }
    return copy;
  }
  throw new TypeError(
    `Cannot write ${path}: ${
      typeof value === "object" ? Object.prototype.toString.call(value) : String(value)
    } cannot be written as YAML`,
  );
}

/**
 * Checks the typed keys a mistake in which cloud-init would only log; encodes bytes and trims
 * the line break a key read from a `.pub` file ends with.
 */
function checkCloudConfig(data: Record<string, unknown>): void {
  const keys = (owner: Record<string, unknown>, where: string) => {
    const list = owner.ssh_authorized_keys;
    if (list === undefined) return;
    if (
      !Array.isArray(list) ||
      list.some((k) => typeof k !== "string" || /[\r\n]/.test(k.trimEnd()))
    ) {
      throw new TypeError(
        `Cannot write cloud-config: ${where}ssh_authorized_keys must be a list of one-line keys`,
      );
    }
    owner.ssh_authorized_keys = list.map((k: string) => k.trimEnd());
  };
  keys(data, "");
  if (data.users !== undefined) {
    if (!Array.isArray(data.users)) {
      throw new TypeError("Cannot write cloud-config: users must be a list");
    }
    data.users.forEach((user, i) => {
      if (user === "default") return;
      const u = user as Record<string, unknown>;
      if (typeof u !== "object" || typeof u.name !== "string" || u.name === "") {
        throw new TypeError(`Cannot write cloud-config: users[${i}] needs a name`);
      }
      keys(u, `users[${i}].`);
    });
  }
  for (const key of ["runcmd", "bootcmd"]) {
    const list = data[key];
    if (list === undefined) continue;
    if (
      !Array.isArray(list) ||
      list.some((c) =>
        typeof c !== "string" && !(Array.isArray(c) && c.every((a) => typeof a === "string"))
      )
    ) {
      throw new TypeError(
        `Cannot write cloud-config: ${key} must be a list of shell lines or argv lists of strings`,
      );
    }
  }
  if (data.write_files !== undefined) {
    if (!Array.isArray(data.write_files)) {
      throw new TypeError("Cannot write cloud-config: write_files must be a list");
    }
    data.write_files.forEach((file: Record<string, unknown>, i) => {
      if (typeof file?.path !== "string" || !file.path.startsWith("/")) {
        throw new TypeError(`Cannot write cloud-config: write_files[${i}] needs an absolute path`);
      }
      if (file.content instanceof Uint8Array) {
        if (file.encoding !== undefined && file.encoding !== "b64" && file.encoding !== "base64") {
          throw new TypeError(
            `Cannot write cloud-config: write_files[${i}] has bytes, written base64, ` +
              `but encoding ${JSON.stringify(file.encoding)}`,
          );
        }
        file.content = encodeBase64(file.content);
        file.encoding = "b64";
      }
    });
  }
}
