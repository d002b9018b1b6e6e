/**
 * Waiting for a command's outcome, in process. Whoever settles or withdraws
 * a command wakes its waiters; a waiter also ends at its time limit or when
 * its caller gives up. SQLite stays the truth: after waking, callers read
 * the command's status from the store, so a wake-up never carries state.
 */
export class CommandWaiters {
  private readonly waiting = new Map<number, Set<() => void>>();

  /** Resolves when `id` is woken, after `timeoutMs`, or when `signal` aborts. */
  waitFor(id: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      let set = this.waiting.get(id);
      if (!set) this.waiting.set(id, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiting.get(id) === waiters) this.waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  wake(id: number): void {
    for (const done of [...(this.waiting.get(id) ?? [])]) done();
  }
}
