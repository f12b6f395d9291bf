// Reads what the host looks like, without ever triggering a permission prompt: what Deno has
// not been granted is treated as unknown.
import { envVar } from "../_env.ts";
import type { HostFacts } from "./accel.ts";

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/** The facts `chooseAccel` needs. */
export function detectHostFacts(): HostFacts {
  const facts: HostFacts = { machine: Deno.build.arch, kvm: "missing" };
  const override = envVar("VMKIT_ACCEL");
  if (override !== undefined) facts.override = override;
  if (!granted({ name: "read", path: "/dev/kvm" })) {
    // Without read access Deno cannot even tell whether /dev/kvm exists.
    facts.kvm = "unknown";
  } else {
    facts.kvm = probeKvm();
  }
  if (granted({ name: "read", path: "/proc/cpuinfo" })) {
    try {
      const text = Deno.readTextFileSync("/proc/cpuinfo");
      const line = /^flags\s*:(.*)$/m.exec(text);
      facts.cpuFlags = new Set(line === null ? [] : line[1].trim().split(/\s+/));
    } catch {
      // Unreadable cpuinfo leaves cpuFlags undefined; chooseAccel then says why it chose TCG.
    }
  }
  return facts;
}

function probeKvm(): HostFacts["kvm"] {
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return "ok";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    const denied = error instanceof Deno.errors.NotCapable ||
      (error instanceof Error && error.message.includes("--allow-all"));
    if (!denied) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }
  // Deno opens (and may stat) devices only with --allow-all; without it /dev/kvm is "unknown",
  // and QEMU reports it if KVM is chosen and does not work.
  try {
    return Deno.statSync("/dev/kvm").isCharDevice ? "ok" : { error: "/dev/kvm is not a device" };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    return "unknown";
  }
}
