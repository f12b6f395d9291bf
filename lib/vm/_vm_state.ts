// The builder's state: a VM description without the architecture, sizes in MiB, lists
// always present. One immutable value per builder (see `_builder_state.ts`).

import type { AccelRequest } from "./accel.ts";
import type { VmProfile } from "./machine.ts";
import type { FwCfgEntry, KernelOptions, MemoryBackend, SmpOptions } from "./_machine_options.ts";
import type {
  Firmware,
  GlobalProperty,
  ObjectDescription,
  RtcOptions,
  SmbiosEntry,
} from "./_platform_options.ts";
import type { DriveDescription } from "./devices/disk.ts";
import type { NetworkDescription } from "./devices/network.ts";
import type { ChardevOptions } from "./devices/chardev.ts";
import type { Device } from "./devices/_registry.ts";

/** The builder's state: a description without the architecture, memory in MiB. */
export interface VmState {
  readonly profile: VmProfile;
  readonly accel: AccelRequest;
  readonly binary?: string;
  readonly name?: string;
  readonly machine?: { type: string; props: Readonly<Record<string, string>> };
  readonly cpu?: string;
  readonly memory?: number;
  readonly memoryHotplug?: { slots: number; max: number };
  readonly memoryBackend?: MemoryBackend;
  readonly numa?: readonly { cpus: number[]; memory: number }[];
  readonly memLock?: boolean;
  readonly firmware?: Firmware;
  readonly smbios: readonly SmbiosEntry[];
  readonly rtc?: RtcOptions;
  readonly processName?: boolean;
  readonly pidFile?: string;
  readonly consoleLog?: string;
  readonly objects: readonly ObjectDescription[];
  readonly uuid?: string;
  readonly sandbox?: boolean;
  readonly globals: readonly GlobalProperty[];
  readonly qemuLog?: string;
  readonly noShutdown?: boolean;
  readonly runAs?: string;
  readonly smp?: SmpOptions;
  readonly kernel?: { path: string } & KernelOptions;
  readonly drives: readonly DriveDescription[];
  readonly networks: readonly NetworkDescription[];
  readonly networkNone: boolean;
  readonly chardevs: readonly { id: string; options: ChardevOptions }[];
  readonly serials: readonly string[];
  readonly fwCfg: readonly FwCfgEntry[];
  readonly qmpSockets: readonly string[];
  readonly devices: readonly Device[];
  readonly hotplugSlots: number;
  readonly incoming: boolean;
  readonly paused: boolean;
  readonly noReboot?: boolean;
  readonly nodefaults?: boolean;
  readonly noUserConfig?: boolean;
  readonly extra: readonly string[];
}

/** The state of a new builder. */
export const EMPTY_STATE: VmState = {
  profile: "fast",
  accel: "auto",
  drives: [],
  networks: [],
  networkNone: false,
  chardevs: [],
  serials: [],
  fwCfg: [],
  qmpSockets: [],
  devices: [],
  smbios: [],
  objects: [],
  globals: [],
  hotplugSlots: 0,
  incoming: false,
  paused: false,
  extra: [],
};
