/**
 * Whether the guest has opened the agent's virtio-serial port, from QMP's `VSERPORT_CHANGE`
 * events. Bytes written to the port's socket before the guest opens it wait in QEMU, so the
 * client waits for the port instead of for a reply that no agent is there to send.
 *
 * @module
 */

import type { QmpClient } from "../qmp/client.ts";

/** The agent port's open state, followed from QMP events. */
export class AgentPort {
  #open = false;
  #openers = new Set<() => void>();
  #closers = new Set<() => void>();

  /**
   * Follows VSERPORT_CHANGE for the port; call it before the guest can open the port (at launch).
   *
   * @param qmp The VM's QMP client.
   * @param deviceId The `virtserialport` device's id.
   */
  constructor(qmp: QmpClient, deviceId: string) {
    const events = qmp.events({ names: ["VSERPORT_CHANGE"], keepAlive: false });
    (async () => {
      for await (const event of events) {
        if (event.data?.id === deviceId) this.#set(event.data.open === true);
      }
    })().catch(() => {
      // The QMP connection ended: QEMU exited, which the client learns on its own.
    });
  }

  /** Whether the guest has the port open now. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Resolves when the guest has the port open (at once if it has).
   *
   * @returns The promise, and how to stop waiting.
   */
  opened(): { promise: Promise<void>; cancel: () => void } {
    if (this.#open) return { promise: Promise.resolve(), cancel: () => {} };
    let opener!: () => void;
    const promise = new Promise<void>((resolve) => {
      opener = resolve;
      this.#openers.add(resolve);
    });
    return { promise, cancel: () => this.#openers.delete(opener) };
  }

  /**
   * Calls `listener` each time the guest closes the port.
   *
   * @param listener Called with no arguments.
   * @returns Unsubscribes.
   */
  onClose(listener: () => void): () => void {
    this.#closers.add(listener);
    return () => this.#closers.delete(listener);
  }

  #set(open: boolean): void {
    if (open === this.#open) return;
    this.#open = open;
    const listeners = open ? this.#openers : this.#closers;
    if (open) this.#openers = new Set();
    for (const listener of [...listeners]) listener();
  }
}
