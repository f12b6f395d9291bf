import assert from "node:assert/strict";
import { vm } from "../../../mod.ts";
import { scratchDir } from "../_disks.ts";
import { tinyGuestWith } from "../_guest.ts";

Deno.test("the guest reads fw_cfg entries, and its panic reaches QMP through pvpanic", async () => {
  await using dir = await scratchDir();
  const g = await tinyGuestWith("x86_64", dir.path, { boot: ["qemu_fw_cfg", "pvpanic-mmio"] });
  await Deno.writeTextFile(`${dir.path}/blob,1`, "from a file");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .fwCfg("opt/vmkit/text", { string: "a,b c" })
    .fwCfg("opt/vmkit/blob", { file: `${dir.path}/blob,1` })
    .pvpanic()
    .launch({ timeout: 60_000 });
  const read = async (name: string) =>
    (await machine.console.exec(`cat /sys/firmware/qemu_fw_cfg/by_name/opt/vmkit/${name}/raw`))
      .output;
  assert.equal(await read("text"), "a,b c");
  assert.equal(await read("blob"), "from a file");
  const panicked = machine.qmp.waitForEvent("GUEST_PANICKED", { timeout: 30_000 });
  await machine.console.send("echo c > /proc/sysrq-trigger\n");
  const event = await panicked;
  assert.ok(["pause", "poweroff", "run"].includes(event.data.action), event.data.action);
});
