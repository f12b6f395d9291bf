// Where a builder keeps its description: one immutable state per builder object, shared by the
// two layers of the builder (`MachineBuilder`, `VmBuilder`) without being part of their API.

import type { ArchProfile } from "./arch.ts";
import type { VmState } from "./_vm_state.ts";
import type { VmProfile } from "./machine.ts";

interface Held {
  readonly profile: Readonly<ArchProfile>;
  readonly state: VmState;
}

const held = new WeakMap<object, Held>();

/** Gives a new builder its profile and state. */
export function holdState(builder: object, profile: Readonly<ArchProfile>, state: VmState): void {
  held.set(builder, { profile, state });
}

/** The state of a builder. */
export function stateOf(builder: object): VmState {
  return held.get(builder)!.state;
}

/** The architecture profile of a builder. */
export function profileOf(builder: object): Readonly<ArchProfile> {
  return held.get(builder)!.profile;
}

/** A new builder of the same class, with the change applied. */
export function withState<B extends object>(builder: B, change: Partial<VmState>): B {
  const { profile, state } = held.get(builder)!;
  const next = new (builder.constructor as new (profile: Readonly<ArchProfile>) => B)(profile);
  held.set(next, { profile, state: { ...state, ...change } });
  return next;
}

/** What the machine facts are computed from. */
export function choiceOf(state: VmState): { profile: VmProfile; machine?: string } {
  return { profile: state.profile, machine: state.machine?.type };
}
