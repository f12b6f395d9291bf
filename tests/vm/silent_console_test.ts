import assert from "node:assert/strict";
import { archProfile, tinyGuest, vm, VmReadyError } from "../../mod.ts";
import { silentConsoleCause } from "../../lib/vm/_silent_console.ts";
import { scratchDir } from "./_disks.ts";

const x86 = archProfile("x86_64");

Deno.test("silentConsoleCause reads a console moved off the serial port, or a VM that boots its disks through SeaBIOS", () => {
  const kernel = (
    append?: string,
  ) => ["-kernel", "/k", ...append === undefined ? [] : ["-append", append]];
  assert.match(
    silentConsoleCause(kernel("console=ttyS0 quiet console=tty0"), x86)!,
    /^the kernel line's last console= is tty0: \/dev\/console, .* is not the serial port vmkit reads \(ttyS0\); put console=ttyS0 last$/,
  );
  assert.equal(silentConsoleCause(kernel("console=tty0 console=ttyS0,115200"), x86), undefined);
  assert.match(
    silentConsoleCause(kernel("root=/dev/vda"), x86)!,
    /has no console=.*add console=ttyS0/,
  );
  // A device tree names the serial port when the kernel line does not.
  assert.equal(silentConsoleCause(kernel(), archProfile("aarch64")), undefined);
  assert.match(
    silentConsoleCause(["-drive", "file=d.img,if=virtio"], x86)!,
    /no kernel, so QEMU's SeaBIOS boots its disks: .* a UEFI-only disk needs \.firmware\("uefi"\)$/,
  );
  assert.equal(silentConsoleCause(["-bios", "/f.rom"], x86), undefined);
  assert.equal(silentConsoleCause(["-machine", "q35,pflash0=code"], x86), undefined);
  assert.equal(silentConsoleCause(["-drive", "if=pflash,format=raw,file=c.fd"], x86), undefined);
});

Deno.test("a readiness timeout on a silent console says that a disk without a kernel boots through SeaBIOS, which prints nothing there", async () => {
  await using dir = await scratchDir();
  // A disk with no boot loader, as a UEFI-only image looks to SeaBIOS.
  const disk = `${dir.path}/blank.raw`;
  await Deno.writeFile(disk, new Uint8Array(1024 * 1024));
  await using guest = await vm({ arch: "x86_64" }).memory("128M").drive(disk, { format: "raw" })
    .launch({ timeout: 60_000 });
  const error = await guest.ready({ stages: [{ stage: "console", timeout: 1500 }] })
    .catch((e) => e);
  assert.ok(error instanceof VmReadyError, String(error));
  assert.match(
    error.reason,
    /; the console has printed nothing since it opened \d+ ms ago, and the VM has no kernel, so QEMU's SeaBIOS boots its disks: .* needs \.firmware\("uefi"\)$/,
  );
  // Nothing in it would answer the power button.
  guest.kill();
});

Deno.test("a readiness timeout on a silent console names a kernel line that moved /dev/console off the serial port", async () => {
  const g = await tinyGuest("x86_64");
  await using guest = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd, append: "console=tty0" }).launch({ timeout: 60_000 });
  const error = await guest.ready({ stages: [{ stage: "console", timeout: 2500 }] })
    .catch((e) => e);
  assert.ok(error instanceof VmReadyError, String(error));
  assert.match(
    error.reason,
    /; the console has printed nothing since it opened \d+ ms ago, and the kernel line's last console= is tty0: .*put console=ttyS0 last$/,
  );
});
