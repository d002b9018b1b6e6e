/**
 * Group commit. With synchronous=FULL every commit waits for the disk, and
 * the event loop waits with it; forty concurrent create_lead calls would pay
 * forty flushes in a row. Writes asked for in the same turn of the event loop
 * are instead run in one transaction, each in a savepoint of its own, and
 * every caller is answered after that transaction has committed. A write that
 * fails rolls back alone (its savepoint) and is rejected; the others commit.
 * Durability is unchanged: nobody hears "done" before the data is on disk.
 */
import type { Database } from './database.ts';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly db: Database) {}

  /** Runs `work` inside the next group transaction; resolves once it is committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  private commit(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.db
        .transaction(() => {
          for (const item of batch) {
            try {
              // A nested transaction is a savepoint: a failure undoes this write only.
              outcomes.push({ ok: true, value: this.db.transaction(item.work)() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      // The commit itself failed: nothing of the batch is stored.
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
  }
}
