// The tiny guest with qemu-ga, which setup builds for the host's architecture (its init starts
// the agent when the machine has the agent's port).

import { tinyGuest } from "../../mod.ts";

/** Kernel and the initramfs with qemu-ga, for x86_64. */
export async function agentGuest(): Promise<{ kernel: string; initrd: string }> {
  const g = await tinyGuest("x86_64", { agent: true });
  return { kernel: g.kernel, initrd: g.initrd };
}
