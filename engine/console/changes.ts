/**
 * Which of an account's lists changed, for the console's live view: a
 * notice per account naming the kinds that changed (calls, audit, leads,
 * users, phone_system, manifests), never the data. The console then reads
 * those lists through the admin API it reads them with anyway, so what it
 * shows is always what the API answers, and a stream carries nothing that a
 * key could not read.
 *
 * Where notices come from (extension.ts wires the sources):
 *   - written audit batches: a tool call's changes to calls and leads are
 *     committed before it answers, and its audit row is written after, so
 *     one notice after the batch covers the three lists;
 *   - writes through the admin API (calls registered or ended, commands
 *     acknowledged, DND set), once answered;
 *   - DND changes reported by phone systems, and calls that ended;
 *   - manifests reloaded, and the phone system's health, which are this
 *     node's own (each node loads its own copy, and holds its view of the
 *     connections).
 *
 * The first three are announced on the store's notification channel, so
 * with several nodes on one PostgreSQL database a console connected to any
 * node hears of changes made on every node; with SQLite the channel stays in
 * the process, which is the only one. Notices are coalesced per account for
 * a moment, so a burst of tool calls is one notice and one read per list.
 */
import type { Logger } from '../logging.ts';
import type { StoreEngine } from '../store/engine.ts';

export const CHANGE_KINDS = ['calls', 'audit', 'leads', 'users', 'phone_system', 'manifests'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export type ChangeListener = (kinds: ReadonlySet<ChangeKind>) => void;

/** Where notices are announced to every node sharing the store. */
export const CHANGES_CHANNEL = 'console_changes';
/** Notices of one account arriving within this long go out together. */
export const COALESCE_MS = 100;

interface Pending {
  kinds: Set<ChangeKind>;
  timer: NodeJS.Timeout;
}

const isKind = (value: unknown): value is ChangeKind => typeof value === 'string' && (CHANGE_KINDS as readonly string[]).includes(value);

export class ChangeFeed {
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly store: StoreEngine,
    private readonly log: Logger,
  ) {}

  /** Accounts someone listens to on this node. */
  accounts(): string[] {
    return [...this.listeners.keys()];
  }

  listenerCount(accountId: string): number {
    return this.listeners.get(accountId)?.size ?? 0;
  }

  /** Calls `listener` with the kinds that changed in the account; returns a function that stops. */
  subscribe(accountId: string, listener: ChangeListener): () => void {
    let set = this.listeners.get(accountId);
    if (!set) this.listeners.set(accountId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size && this.listeners.get(accountId) === set) this.listeners.delete(accountId);
    };
  }

  /** A change seen on this node, for this node's listeners only (manifests, phone-system health). */
  changed(accountId: string, kinds: readonly ChangeKind[]): void {
    if (!this.listeners.has(accountId) || !kinds.length) return;
    const pending = this.pending.get(accountId);
    if (pending) {
      for (const kind of kinds) pending.kinds.add(kind);
      return;
    }
    const timer = setTimeout(() => this.deliver(accountId), COALESCE_MS);
    timer.unref();
    this.pending.set(accountId, { kinds: new Set(kinds), timer });
  }

  /** A change of shared state: heard by the listeners of every node sharing the store (this one through the channel too). */
  announce(accountId: string, kinds: readonly ChangeKind[]): void {
    // A lost notice costs a console its live update until the next one, never a wrong answer: it reads the API.
    this.store.notify(CHANGES_CHANNEL, JSON.stringify({ account: accountId, kinds })).catch((error: unknown) => {
      this.log.warn({ err: error, event: 'console_change_not_announced', account: accountId }, 'a change was not announced to the consoles; they show it with the next one');
    });
  }

  /** Listens on the channel; resolves with a function that stops listening. */
  listen(): Promise<() => Promise<void>> {
    return this.store.listen(CHANGES_CHANNEL, (payload) => {
      let notice: { account?: unknown; kinds?: unknown };
      try {
        notice = JSON.parse(payload) as typeof notice;
      } catch {
        return;
      }
      if (typeof notice.account !== 'string' || !Array.isArray(notice.kinds)) return;
      this.changed(notice.account, notice.kinds.filter(isKind));
    });
  }

  /** After the notification connection was lost and is back: notices in between are gone, so every list may have changed. */
  everythingChanged(): void {
    for (const accountId of this.accounts()) this.changed(accountId, CHANGE_KINDS);
  }

  stop(): void {
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    this.pending.clear();
  }

  private deliver(accountId: string): void {
    const pending = this.pending.get(accountId);
    this.pending.delete(accountId);
    if (!pending) return;
    for (const listener of this.listeners.get(accountId) ?? []) {
      try {
        listener(pending.kinds);
      } catch (error) {
        this.log.error({ err: error, event: 'console_listener_failed', account: accountId }, 'a console change listener failed');
      }
    }
  }
}
