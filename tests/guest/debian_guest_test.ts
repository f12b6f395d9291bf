import assert from "node:assert/strict";
import { debianGuest, vm } from "../../mod.ts";
import { qcow2Overlay } from "./_overlay.ts";

Deno.test("the Debian guest boots from an overlay to its login prompt, and the base image stays untouched", async () => {
  const debian = await debianGuest();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const before = await Deno.stat(debian.image);
    const overlay = await qcow2Overlay(dir, debian.image);
    {
      await using machine = await vm({ arch: "x86_64" }).memory("1G").smp(2)
        .kernel(debian.kernel, { initrd: debian.initrd, append: debian.append })
        .drive(overlay)
        .launch({ timeout: 60_000 });
      await machine.console.expect(/vmkit-debian login: /, { timeout: 180_000 });
      const result = await machine.shutdown({ timeout: 60_000 });
      assert.equal(result.method, "powerdown");
    }
    const after = await Deno.stat(debian.image);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    assert.ok(
      (await Deno.stat(overlay)).size > 256 * 1024,
      "the guest's writes went to the overlay",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
