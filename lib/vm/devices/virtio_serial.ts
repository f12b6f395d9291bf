/**
 * Virtio-serial ports: named channels between host and guest (the QEMU guest agent's
 * `org.qemu.guest_agent.0`), and virtio consoles (`/dev/hvc0` in a Linux guest). Each port owns
 * a chardev, its host end; all ports share one virtio-serial controller.
 *
 * @module
 */

import { checkId, checkPath, checkSocketPath } from "../_checks.ts";
import { defined, type Field, optionalBoolean } from "../_validate.ts";
import { virtioDriver } from "../machine.ts";
import { chardevClaims, type ChardevOptions, chardevStep, parseChardev } from "./chardev.ts";
import type { DeviceKind, InputFile } from "./_kind.ts";
import { busOf, type PlanContext, type Step } from "./_plan.ts";

/**
 * A virtio-serial port: the guest finds it by `name` under `/sys/class/virtio-ports/` (and
 * udev as `/dev/virtio-ports/<name>`), and reads and writes `/dev/vport<N>p<M>`; the host end
 * is `chardev`. With `console: true` it is a virtio console instead, `/dev/hvc<N>` in the
 * guest.
 *
 * @example The QEMU guest agent's channel, on a unix socket QEMU listens on
 * ```ts
 * import { vm } from "@vmkit/vmkit";
 * const builder = vm({ arch: "x86_64" }).device({
 *   kind: "virtio-serial-port",
 *   name: "org.qemu.guest_agent.0",
 *   chardev: { backend: "socket", path: "/tmp/qga.sock", server: true },
 * });
 * ```
 */
export interface VirtioSerialPortDevice {
  /** The kind of this description: `"virtio-serial-port"`. */
  kind: "virtio-serial-port";
  /**
   * The port's name, as the guest sees it: 1 to 127 letters, digits, `.`, `_`, `-` and `:`,
   * starting with a letter or digit (no `/`: udev makes `/dev/virtio-ports/<name>`). Unique
   * among the VM's ports. Required for a port, optional for a console.
   */
  name?: string;
  /** The host end of the port: a unix socket, a file, a pipe, a pty or nothing. */
  chardev: ChardevOptions;
  /** A virtio console (`virtconsole`, `/dev/hvc<N>`) instead of a port (`virtserialport`). */
  console?: boolean;
  /** Device id; default `port<N>`, N counting the VM's ports. Its chardev is `<id>-chr`. */
  id?: string;
}

/** The id of the virtio-serial controller all ports share. */
export const VIRTIO_SERIAL_CONTROLLER_ID = "vmkit-virtio-serial";

/**
 * The step that adds the virtio-serial controller every port shares: each port's plan (and the
 * guest agent's) starts with it, and the command line has it once.
 *
 * @param ctx The plan's context: its virtio transport and bus.
 * @returns The controller's `-device` step, with id {@linkcode VIRTIO_SERIAL_CONTROLLER_ID}.
 */
export function virtioSerialController(ctx: PlanContext): Step {
  return {
    kind: "device",
    args: {
      driver: virtioDriver(ctx.transport, "serial"),
      id: VIRTIO_SERIAL_CONTROLLER_ID,
      ...busOf(ctx),
    },
  };
}

/** Port numbers a controller has (QEMU's `max_ports`); number 0 is kept for a console. */
const MAX_PORTS = 31;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,126}$/;

function checkName(field: string, name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Cannot set ${field} to ${
        typeof name === "string" ? JSON.stringify(name) : String(name)
      }: use 1 to 127 letters, digits, ".", "_", "-" and ":", starting with a letter or digit`,
    );
  }
  return name;
}

/** Checks a chardev given inline, naming its fields after the port's (`... chardev.path`). */
function parsePortChardev(value: unknown, field: Field, id: string): ChardevOptions {
  // "options" names the object itself, as the Field convention has it.
  const inner: Field = (key) => field(key === "options" ? "chardev" : `chardev.${key}`);
  // parseChardev names a bad path after the chardev's id; the port's own field is clearer.
  const { backend, path } = (value ?? {}) as { backend?: unknown; path?: unknown };
  if (backend === "socket") checkSocketPath(inner("path"), path as string);
  if (backend === "file" || backend === "pipe") checkPath(inner("path"), path as string);
  return parseChardev(id, value, inner);
}

function deviceId(device: VirtioSerialPortDevice, index: number): string {
  return device.id ?? `port${index}`;
}

/** The id of a port's chardev: `<device id>-chr`. */
function portChardevId(device: VirtioSerialPortDevice, index: number): string {
  return `${deviceId(device, index)}-chr`;
}

/** The port in errors: by its name, else its id. */
function what(device: VirtioSerialPortDevice): string {
  if (device.name !== undefined) return `virtio-serial port "${device.name}"`;
  return device.id === undefined ? "virtio console" : `virtio console "${device.id}"`;
}

/** The virtio-serial port kind. */
export const virtioSerialPortKind: DeviceKind<VirtioSerialPortDevice> = {
  keys: ["name", "chardev", "console", "id"],
  parse(v, field) {
    const console = optionalBoolean(field("console"), v.console);
    if (v.name === undefined && !console) {
      throw new TypeError(
        `Cannot add virtio-serial port: ${
          field("name")
        } is missing; the guest finds a port by its name (a console needs none)`,
      );
    }
    const name = v.name === undefined ? undefined : checkName(field("name"), v.name);
    const id = v.id === undefined ? undefined : checkId("virtio-serial port", v.id as string);
    if (v.chardev === undefined) {
      throw new TypeError(
        `Cannot add virtio-serial port: ${
          field("chardev")
        } is missing; give its host end, such as { backend: "socket", path }`,
      );
    }
    return defined({
      kind: "virtio-serial-port" as const,
      name,
      chardev: parsePortChardev(v.chardev, field, id ?? "port"),
      console,
      id,
    });
  },
  plan(device, ctx, index) {
    if (index >= MAX_PORTS) {
      throw new RangeError(
        `Cannot add ${
          what(device)
        }: a VM has at most ${MAX_PORTS} virtio-serial ports (30 ports and a console)`,
      );
    }
    const chardev = portChardevId(device, index);
    return [
      virtioSerialController(ctx),
      chardevStep(chardev, device.chardev),
      {
        kind: "device",
        args: defined({
          driver: device.console ? "virtconsole" : "virtserialport",
          id: deviceId(device, index),
          bus: `${VIRTIO_SERIAL_CONTROLLER_ID}.0`,
          chardev,
          name: device.name,
        }),
      },
    ];
  },
  ids(device, index) {
    return [deviceId(device, index), portChardevId(device, index)];
  },
  unique: (device) => [
    ...device.name === undefined ? [] : [`port name "${device.name}"`],
    ...chardevClaims(device.chardev),
  ],
  inputs(device) {
    const c = device.chardev;
    if (c.backend !== "socket" || (c.server ?? true)) return [];
    return [
      {
        what: `${what(device)} socket`,
        path: c.path,
        hint: "start the program that listens on it first, or let QEMU listen (server: true)",
        expect: "any",
      } satisfies InputFile,
    ];
  },
};
