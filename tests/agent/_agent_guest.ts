// The tiny guest with qemu-ga in its initramfs (the default init starts it when the machine has
// the agent's port), built once per test run into a temp file.

import { initramfs, tinyGuest, tinyGuestModules } from "../../mod.ts";

let built: Promise<{ kernel: string; initrd: string }> | undefined;

/** Kernel and an initramfs with qemu-ga, for x86_64. */
export function agentGuest(): Promise<{ kernel: string; initrd: string }> {
  built ??= (async () => {
    const g = await tinyGuest("x86_64");
    if (g.modulesDir === undefined) throw new Error("the tiny guest has no modules; run setup");
    const image = await initramfs().busybox(g.busybox)
      .modules(g.modulesDir, tinyGuestModules("x86_64"))
      .executable("/usr/sbin/qemu-ga")
      .build();
    const initrd = await Deno.makeTempFile({ prefix: "vmkit-test-agent-", suffix: ".img" });
    await Deno.writeFile(initrd, image);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(initrd);
      } catch {
        // Gone already.
      }
    });
    return { kernel: g.kernel, initrd };
  })();
  return built;
}
