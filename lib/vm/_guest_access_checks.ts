// Checks of how a VM reaches its guest that need more than one part of the description: `ssh`
// needs a forward to guest port 22 and, for the key vmkit makes, a cloud-init seed to carry it;
// a seed served over HTTP needs a user network and the SMBIOS system serial.

import type { VmState } from "./_vm_state.ts";
import type { CloudInitDevice } from "./devices/cloud_init_seed.ts";
import type { SshDevice } from "./devices/ssh.ts";
import { VMKIT_SSH_USER } from "./devices/ssh.ts";

/**
 * Throws a `TypeError` naming what to do when `ssh` or `cloud-init` cannot work with the rest
 * of the description.
 */
export function checkGuestAccess(s: VmState): void {
  const ssh = s.devices.find((d): d is SshDevice => d.kind === "ssh");
  const seed = s.devices.find((d): d is CloudInitDevice => d.kind === "cloud-init");
  const userNets = s.networks.filter((n) => n.type === "user");
  if (ssh !== undefined) {
    const forwarded = userNets.some((n) =>
      n.type === "user" &&
      (n.forwards ?? []).some((f) => f.guestPort === 22 && f.protocol !== "udp")
    );
    if (!forwarded) {
      throw new TypeError(
        "Cannot add ssh: no user-mode network forwards a host port to guest port 22; use .ssh(), which adds one, or add { hostPort: 0, guestPort: 22 } to a user network's forwards",
      );
    }
    if (seed === undefined && ssh.identity === undefined) {
      throw new TypeError(
        "Cannot add ssh: the key vmkit makes for the VM reaches the guest through the cloud-init seed; add .cloudInit({ ... }), or give .ssh({ user, identity }) with a key the guest accepts already",
      );
    }
    if (
      seed !== undefined && typeof seed.userData === "string" &&
      (ssh.user ?? VMKIT_SSH_USER) === VMKIT_SSH_USER
    ) {
      throw new TypeError(
        `Cannot add ssh user "${VMKIT_SSH_USER}": the cloud-init user-data is text, which vmkit does not edit; give .ssh({ user }) naming the image's default user (debian, ubuntu...), which gets the key through meta-data, or give the user-data as an object`,
      );
    }
  }
  if (
    ssh?.user === "root" && seed !== undefined &&
    !(typeof seed.userData === "object" && seed.userData.disable_root === false)
  ) {
    throw new TypeError(
      'Cannot add ssh user "root": cloud-init refuses root logins (disable_root), running "Please login as the user ..." instead of any command; use the default user vmkit (with sudo), or set disable_root: false in the user-data',
    );
  }
  if (seed?.via === "http") {
    if (userNets.length === 0) {
      throw new TypeError(
        'Cannot serve the cloud-init seed over HTTP: the VM has no user-mode network to fetch it through (10.0.2.2); add .network({ type: "user" }), or use via: "disk"',
      );
    }
    if (s.smbios.some((entry) => entry.type === 1)) {
      throw new TypeError(
        'Cannot serve the cloud-init seed over HTTP: the VM sets SMBIOS type 1 already, and the seed\'s address goes in its serial; remove that .smbios({ type: 1 }) entry, or use via: "disk"',
      );
    }
  }
}
