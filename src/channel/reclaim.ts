// Places an endpoint took in a segment (a sender's entry, the receiver's or a
// subscriber's place), given back when their owner cannot give them back
// itself: it was dropped without detach() (the collector), or the thread
// ends normally without closing them (a clean exit is not a crash). Channel
// and PubSub each keep one.

/** Gives back what its owners registered, on their collection or at exit. */
export class Reclaimer<R extends object> {
  readonly #release: (registrations: R) => void;
  /** Registrations of this thread's live owners: exiting takes them back. */
  readonly #live = new Set<R>();
  readonly #dropped: FinalizationRegistry<R>;
  #exitHook = false;

  constructor(release: (registrations: R) => void) {
    this.#release = release;
    // The registrations, never the owner, are what the callback holds: the
    // owner must stay collectable.
    this.#dropped = new FinalizationRegistry((registrations) => {
      this.#live.delete(registrations);
      release(registrations);
    });
  }

  /** Tracks `registrations` for as long as `owner` lives or until {@link forget}. */
  track(owner: object, registrations: R): void {
    this.#live.add(registrations);
    this.#dropped.register(owner, registrations, registrations);
    if (this.#exitHook) return;
    // Installed once, from here rather than a constructor, whose closures
    // would keep the first owner alive. (A worker that is terminate()d runs no
    // hook; its endpoints are found gone with its presence.)
    this.#exitHook = true;
    const live = this.#live;
    const release = this.#release;
    process.once('exit', () => {
      for (const registrations of live) release(registrations);
    });
  }

  /** Stops tracking: the owner gave its places back itself (detach). */
  forget(registrations: R): void {
    this.#live.delete(registrations);
    this.#dropped.unregister(registrations);
  }
}
