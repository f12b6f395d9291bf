// Shared by the binfmt tests: Debian's busybox-static of other architectures (fetched by
// scripts/setup.sh), and whether this process may change binfmt_misc.
import type { QemuTargetName } from "../../lib/binfmt/targets.ts";

/** One foreign busybox: its Debian architecture, QEMU target, and what `uname -m` prints. */
export interface ForeignBusybox {
  deb: string;
  target: QemuTargetName;
  uname: string;
  path: string;
}

const cache = new URL("../../.cache/vmkit/foreign/", import.meta.url).pathname;

export const FOREIGN_BUSYBOXES: readonly ForeignBusybox[] = [
  { deb: "arm64", target: "aarch64", uname: "aarch64" },
  { deb: "armhf", target: "arm", uname: "armv7l" },
  { deb: "armel", target: "arm", uname: "armv7l" },
  { deb: "ppc64el", target: "ppc64le", uname: "ppc64le" },
  { deb: "s390x", target: "s390x", uname: "s390x" },
  { deb: "mips64el", target: "mips64el", uname: "mips64" },
  { deb: "mipsel", target: "mipsel", uname: "mips" },
].map((b) => ({ ...b, target: b.target as QemuTargetName, path: `${cache}${b.deb}/busybox` }));

/** Entry names of these tests all start with this; every test removes what it registered. */
export const TEST_PREFIX = "vmkit-test-";

export const IS_ROOT = Deno.uid() === 0;

/** Deno.test options for tests that change binfmt_misc: skipped, visibly, when not root. */
export function needsRoot(name: string): { name: string; ignore: boolean } {
  return { name: IS_ROOT ? name : `${name} [skipped: needs root]`, ignore: !IS_ROOT };
}

if (!IS_ROOT) {
  console.warn(
    "binfmt tests: not root, so the tests that register binfmt_misc entries are skipped",
  );
}

/** Removes every entry of these tests, whatever a failed test left. */
export async function removeTestEntries(): Promise<void> {
  const root = "/proc/sys/fs/binfmt_misc";
  for await (const item of Deno.readDir(root)) {
    if (!item.name.startsWith(TEST_PREFIX)) continue;
    using file = await Deno.open(`${root}/${item.name}`, { write: true });
    await file.write(new TextEncoder().encode("-1"));
  }
}
