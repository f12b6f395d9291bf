/**
 * The QEMU guest agent's channel: a virtio-serial port named `org.qemu.guest_agent.0`, whose
 * host end is a socket in the VM's runtime directory that vmkit listens on, so `vm.agent` holds
 * the connection from launch and follows the port over QMP.
 *
 * @module
 */

import type { DeviceKind } from "./_kind.ts";
import { optionList } from "../qemu_opts.ts";
import { listening } from "./_plan.ts";
import { VIRTIO_SERIAL_CONTROLLER_ID, virtioSerialController } from "./virtio_serial.ts";

/** The guest agent's channel (`.guestAgent()`); `vm.agent` talks to the agent through it. */
export interface GuestAgentDevice {
  /** The kind of this description: `"guest-agent"`. */
  kind: "guest-agent";
}

/** The port's name, which qemu-ga and its udev rule look for. */
export const GUEST_AGENT_PORT_NAME = "org.qemu.guest_agent.0";
/** The port device's id: its `VSERPORT_CHANGE` events say when the guest opens it. */
export const GUEST_AGENT_PORT_ID = "vmkit-qga";
/** The socket in the runtime directory that vmkit listens on and QEMU connects to. */
export const GUEST_AGENT_SOCKET = "qga.sock";
const CHARDEV_ID = "vmkit-qga-chr";

/** The guest agent kind. */
export const guestAgentKind: DeviceKind<GuestAgentDevice> = {
  keys: [],
  single: true,
  parse() {
    return { kind: "guest-agent" };
  },
  plan(_device, ctx) {
    return [
      virtioSerialController(ctx),
      {
        kind: "arg",
        argv: [
          "-chardev",
          optionList("socket", [
            ["id", CHARDEV_ID],
            ["path", `${ctx.runtimeDir}/${GUEST_AGENT_SOCKET}`, "runtimeDir"],
            ...listening(ctx.qemuListens),
          ]),
        ],
        why: ctx.qemuListens
          ? "QEMU listens on the agent's socket, for whoever connects later"
          : "vmkit listens on the agent's socket from launch only",
      },
      {
        kind: "device",
        args: {
          driver: "virtserialport",
          id: GUEST_AGENT_PORT_ID,
          bus: `${VIRTIO_SERIAL_CONTROLLER_ID}.0`,
          chardev: CHARDEV_ID,
          name: GUEST_AGENT_PORT_NAME,
        },
      },
    ];
  },
  ids: () => [GUEST_AGENT_PORT_ID, CHARDEV_ID],
  unique: () => [`port name "${GUEST_AGENT_PORT_NAME}"`],
};
