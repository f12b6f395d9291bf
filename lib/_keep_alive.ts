// Keeps a Deno resource (a connection, a child process) referenced only while something waits
// on it, so an idle VM or QMP connection never keeps a finished script alive on its own, the way
// an unref'd timer does not.

/** Anything Deno can let go of: `Deno.Conn`, `Deno.ChildProcess`. */
export interface Referable {
  ref(): void;
  unref(): void;
}

/** Counts the waits on a resource; it is referenced while there is at least one. */
export class KeepAlive {
  readonly #target: Referable;
  #count = 0;

  constructor(target: Referable) {
    this.#target = target;
    this.#set(false);
  }

  /** Holds the resource until the returned function is called (once; later calls do nothing). */
  hold(): () => void {
    if (this.#count++ === 0) this.#set(true);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#count === 0) this.#set(false);
    };
  }

  /** Holds the resource until `promise` settles; returns `promise`. */
  during<T>(promise: Promise<T>): Promise<T> {
    const release = this.hold();
    promise.then(release, release);
    return promise;
  }

  #set(referenced: boolean): void {
    try {
      if (referenced) this.#target.ref();
      else this.#target.unref();
    } catch {
      // A closed connection or an exited child has nothing left to hold.
    }
  }
}
