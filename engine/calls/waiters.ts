/**
 * Waiting for a command's outcome, in process. Whoever settles or withdraws
 * a command wakes its waiters; a waiter also ends at its time limit or when
 * its caller gives up. The store stays the truth: after waking, callers read
 * the command's status from it, so a wake-up never carries state.
 *
 * A waiter is registered before its caller reads the status (`watch`, then
 * read, then await or cancel): reading the store takes a turn of the event
 * loop, and a verdict that lands in between must still wake it.
 */
export interface Watch {
  /** Resolves when the command is woken, at the time limit, or when the signal aborts. */
  done: Promise<void>;
  /** Stops waiting (the status read showed nothing to wait for). */
  cancel(): void;
}

export class CommandWaiters {
  private readonly waiting = new Map<number, Set<() => void>>();

  /** Starts waiting for `id` to be woken, for at most `timeoutMs` or until `signal` aborts. */
  watch(id: number, timeoutMs: number, signal: AbortSignal | undefined): Watch {
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      let set = this.waiting.get(id);
      if (!set) this.waiting.set(id, (set = new Set()));
      const waiters = set;
      const end = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', end);
        waiters.delete(end);
        if (waiters.size === 0 && this.waiting.get(id) === waiters) this.waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(end, timeoutMs);
      signal?.addEventListener('abort', end, { once: true });
      waiters.add(end);
      finish = end;
    });
    return { done, cancel: () => finish() };
  }

  wake(id: number): void {
    for (const done of [...(this.waiting.get(id) ?? [])]) done();
  }
}
