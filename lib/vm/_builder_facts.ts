// What launching needs to know of a description besides its argv: the ids it takes (checked
// for clashes), the host files it reads, what it plugs at boot, why it cannot launch, and what
// runs beside QEMU. Pure functions of the builder's state, except startSidecars.

import type { VmState } from "./_vm_state.ts";
import { type Firmware, firmwareVarsPath } from "./_platform_options.ts";

import { DEVICE_KINDS, kindOf } from "./devices/_registry.ts";
import { checkNetworks, networkInputs } from "./devices/network.ts";
import { chardevClaims } from "./devices/chardev.ts";
import type { InputFile, LaunchFacts, Sidecar } from "./devices/_kind.ts";

/** Every id the description takes, with what takes it; throws naming both on a clash. */
function idsOf(s: VmState, action: string): Map<string, string> {
  const ids = new Map<string, string>();
  const take = (id: string, what: string) => {
    const other = ids.get(id);
    if (other !== undefined) {
      throw new TypeError(`${action}: id "${id}" is used by both ${other} and ${what}`);
    }
    ids.set(id, what);
  };
  for (const drive of s.drives) take(drive.id, `drive "${drive.file}"`);
  s.networks.forEach((net, i) => take(net.id ?? `net${i}`, `network ${i}`));
  for (const c of s.chardevs) take(c.id, `chardev "${c.id}"`);
  for (const o of s.objects) take(o.id, `object "${o.id}"`);
  // Other values two parts of a VM cannot share: tags, names, and the sockets and files QEMU
  // makes or writes (two of them on one path lose data silently).
  const values = new Map<string, string>();
  const claim = (value: string, what: string) => {
    const other = values.get(value);
    if (other !== undefined) {
      throw new TypeError(`${action}: ${value} is used by both ${other} and ${what}`);
    }
    values.set(value, what);
  };
  for (const path of s.qmpSockets) claim(`socket "${path}"`, "a QMP socket");
  for (const c of s.chardevs) {
    for (const value of chardevClaims(c.options)) claim(value, `chardev "${c.id}"`);
  }
  if (s.consoleLog !== undefined) claim(`file "${s.consoleLog}"`, "the console log");
  if (s.pidFile !== undefined) claim(`file "${s.pidFile}"`, "the pid file");
  if (s.qemuLog !== undefined) claim(`file "${s.qemuLog}"`, "QEMU's log");
  const counts = new Map<string, number>();
  for (const device of s.devices) {
    const index = counts.get(device.kind) ?? 0;
    counts.set(device.kind, index + 1);
    const what = `${device.kind} device ${index}`;
    for (const id of kindOf(device).ids?.(device, index) ?? []) take(id, what);
    for (const value of kindOf(device).unique?.(device, index) ?? []) claim(value, what);
  }
  return ids;
}

/**
 * Checks what one part of a description names in another: no id taken twice, every serial
 * port's chardev exists.
 */
export function checkReferences(s: VmState, action: string): void {
  idsOf(s, action);
  // Its messages are whole ("Cannot add network ..."); a description's reading prefixes them.
  checkNetworks(s.networks, s.networks.map((n, i) => n.id ?? `net${i}`));
  for (const id of s.serials) {
    if (!s.chardevs.some((chardev) => chardev.id === id)) {
      throw new TypeError(
        `${action}: serial port on chardev "${id}": no such chardev; add it to chardevs`,
      );
    }
  }
}

function firmwareFiles(firmware: Firmware | undefined): InputFile[] {
  if (firmware === undefined || "interface" in firmware || "builtin" in firmware) return [];
  if ("bios" in firmware) return [{ what: "firmware", path: firmware.bios }];
  const files = [{ what: "firmware code", path: firmware.code }];
  if (firmware.varsTemplate !== undefined) {
    files.push({ what: "firmware vars template", path: firmware.varsTemplate });
  } else if (firmware.vars !== undefined) {
    files.push({ what: "firmware vars", path: firmware.vars });
  }
  return files;
}

/** Kernel, initrd, drive, fw_cfg, firmware and device files that must exist before QEMU starts. */
export function inputFilesOf(s: VmState): InputFile[] {
  const files: InputFile[] = [];
  if (s.kernel !== undefined) {
    files.push({ what: "kernel", path: s.kernel.path });
    if (s.kernel.initrd !== undefined) files.push({ what: "initrd", path: s.kernel.initrd });
  }
  for (const drive of s.drives) files.push({ what: `drive "${drive.id}"`, path: drive.file });
  for (const entry of s.fwCfg) {
    if ("file" in entry) files.push({ what: `fw_cfg "${entry.name}"`, path: entry.file });
  }
  for (const device of s.devices) files.push(...kindOf(device).inputs?.(device) ?? []);
  files.push(...firmwareFiles(s.firmware));
  s.networks.forEach((n, i) => files.push(...networkInputs(n, n.id ?? `net${i}`)));
  return files;
}

/** Ids of the disks (not snapshot drives) and network cards plugged at boot. */
export function pluggedOf(s: VmState): { disks: string[]; nics: string[] } {
  return {
    disks: s.drives.filter((drive) => !drive.snapshot).map((drive) => drive.id),
    nics: s.networks.map((network, i) => network.id ?? `net${i}`),
  };
}

/** Why `launch()` cannot start the description, or `undefined`. */
export function unlaunchableOf(s: VmState): string | undefined {
  for (const [i, network] of s.networks.entries()) {
    if (network.type === "tap" && network.fd !== undefined) {
      return `network "${
        network.id ?? `net${i}`
      }" uses tap fd ${network.fd}: Deno cannot hand a child process extra file descriptors; open the tap by name (ifname), or run toShell() from a launcher that passes the descriptor`;
    }
  }
  return undefined;
}

/**
 * Makes the firmware variable store from its template when the VM's store does not exist yet;
 * a copy that fails half-way is removed.
 */
async function copyFirmwareVars(firmware: Firmware | undefined, runtimeDir: string) {
  if (firmware === undefined || !("code" in firmware) || firmware.varsTemplate === undefined) {
    return;
  }
  const vars = firmwareVarsPath(firmware, runtimeDir)!;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(vars, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw error;
  }
  try {
    await using template = await Deno.open(firmware.varsTemplate);
    await template.readable.pipeTo(file.writable);
  } catch (error) {
    await Deno.remove(vars).catch(() => {});
    throw new Error(
      `Cannot copy firmware vars template "${firmware.varsTemplate}" to "${vars}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

/**
 * Prepares what the description needs beside QEMU, in the runtime directory: the firmware
 * variable store, and the devices' sidecars (swtpm). On failure, what started is stopped.
 */
export async function startSidecars(
  s: VmState,
  runtimeDir: string,
): Promise<{ sidecars: Sidecar[]; facts: LaunchFacts }> {
  await copyFirmwareVars(s.firmware, runtimeDir);
  const started: Sidecar[] = [];
  const facts: LaunchFacts = {};
  const counts = new Map<string, number>();
  try {
    // In the registry's order, not the description's: the SSH keys before the seed that
    // carries them. Each kind's index still counts in description order.
    const order = Object.keys(DEVICE_KINDS);
    const indexed = s.devices.map((device) => {
      const index = counts.get(device.kind) ?? 0;
      counts.set(device.kind, index + 1);
      return { device, index };
    });
    indexed.sort((a, b) => order.indexOf(a.device.kind) - order.indexOf(b.device.kind));
    for (const { device, index } of indexed) {
      const prepare = kindOf(device).prepare;
      if (prepare !== undefined) started.push(await prepare(device, runtimeDir, index, facts));
    }
  } catch (error) {
    for (const sidecar of started.reverse()) await sidecar.stop();
    throw error;
  }
  return { sidecars: started, facts };
}
