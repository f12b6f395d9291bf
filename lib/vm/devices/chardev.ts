/**
 * Character devices: the backends of serial ports, virtio-serial ports and vhost-user
 * sockets.
 *
 * @module
 */

import { checkId, checkPath, checkSocketPath } from "../_checks.ts";
import { checkEnum, checkRecord, defined, type Field, optionalBoolean } from "../_validate.ts";
import { optionList } from "../qemu_opts.ts";
import type { Step } from "./_plan.ts";

/** A character device backend for extra serial ports or devices. */
export type ChardevOptions =
  | { backend: "null" }
  | { backend: "file"; path: string; append?: boolean }
  | { backend: "pipe"; path: string }
  | { backend: "pty" }
  | { backend: "socket"; path: string; server?: boolean; wait?: boolean };

/** A chardev with its id, as a JSON description holds it. */
export type ChardevDescription = { id: string } & ChardevOptions;

const KEYS: Record<ChardevOptions["backend"], readonly string[]> = {
  null: ["backend"],
  file: ["backend", "path", "append"],
  pipe: ["backend", "path"],
  pty: ["backend"],
  socket: ["backend", "path", "server", "wait"],
};

/**
 * Checks a chardev's options.
 *
 * @param id The chardev id.
 * @param value The options.
 * @param field Names its fields in errors.
 * @returns The checked options.
 */
export function parseChardev(id: string, value: unknown, field: Field): ChardevOptions {
  checkId("chardev", id);
  const backend = checkEnum(
    field("backend"),
    (value as { backend?: unknown } | null)?.backend,
    ["null", "file", "pipe", "pty", "socket"],
  );
  const v = checkRecord(field("options"), value, KEYS[backend]);
  const path = `chardev "${id}" path`;
  switch (backend) {
    case "null":
    case "pty":
      return { backend };
    case "file":
      return defined({
        backend,
        path: checkPath(path, v.path as string),
        append: optionalBoolean(field("append"), v.append),
      });
    case "pipe":
      return { backend, path: checkPath(path, v.path as string) };
    case "socket":
      return defined({
        backend,
        path: checkSocketPath(path, v.path as string),
        server: optionalBoolean(field("server"), v.server),
        wait: optionalBoolean(field("wait"), v.wait),
      });
  }
}

/** The `chardev-add` backend of a chardev. */
function backendOf(c: ChardevOptions): Record<string, unknown> {
  switch (c.backend) {
    case "null":
    case "pty":
      return { type: c.backend, data: {} };
    case "file":
      return { type: "file", data: defined({ out: c.path, append: c.append }) };
    case "pipe":
      return { type: "pipe", data: { device: c.path } };
    case "socket":
      return {
        type: "socket",
        data: {
          addr: { type: "unix", data: { path: c.path } },
          server: c.server ?? true,
          ...(c.server ?? true) ? { wait: c.wait ?? false } : {},
        },
      };
  }
}

/**
 * The step that makes a chardev: its `-chardev` option list and its `chardev-add` backend.
 *
 * @param id The chardev id.
 * @param c Its options.
 * @returns The step.
 */
export function chardevStep(id: string, c: ChardevOptions): Step {
  const pairs: [string, string | boolean | undefined, string?][] = [["id", id]];
  if (c.backend === "file" || c.backend === "pipe") {
    pairs.push(["path", c.path, `chardev "${id}" path`]);
  }
  if (c.backend === "file") pairs.push(["append", c.append]);
  if (c.backend === "socket") {
    const server = c.server ?? true;
    pairs.push(["path", c.path, `chardev "${id}" path`], ["server", server]);
    if (server) pairs.push(["wait", c.wait ?? false]);
  }
  return { kind: "chardev", id, option: optionList(c.backend, pairs), backend: backendOf(c) };
}

/**
 * The host paths a chardev claims, named as the VM's uniqueness check names them: the socket
 * QEMU listens on, or the file it writes. Two chardevs on one of them would lose data silently.
 */
export function chardevClaims(c: ChardevOptions): string[] {
  if (c.backend === "socket" && (c.server ?? true)) return [`socket "${c.path}"`];
  if (c.backend === "file") return [`file "${c.path}"`];
  return [];
}

/** A unix socket chardev: QEMU listens (`server`) or connects. */
export function socketChardev(id: string, path: string, options: { server: boolean }): Step {
  return chardevStep(id, { backend: "socket", path, server: options.server });
}
