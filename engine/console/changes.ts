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
 * the process, which is the only one. A node gathers its announcements for a
 * moment and sends them as one notification, so its notifications stay a
 * few a second however busy it is; and each node gathers the notices of an
 * account for a moment before telling its consoles, so a burst of tool calls
 * is one notice and one read per list.
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

/** PostgreSQL takes notification payloads under 8000 bytes. */
const MAX_PAYLOAD_CHARS = 7000;

/** Notices as few payloads as fit the channel: `{"changes":[{"account","kinds"},…]}`. */
export function payloads(notices: readonly { account: string; kinds: readonly ChangeKind[] }[]): string[] {
  const out: string[] = [];
  let batch: string[] = [];
  let size = 0;
  for (const notice of notices) {
    const text = JSON.stringify(notice);
    if (batch.length && size + text.length > MAX_PAYLOAD_CHARS) {
      out.push(`{"changes":[${batch.join(',')}]}`);
      batch = [];
      size = 0;
    }
    batch.push(text);
    size += text.length + 1;
  }
  if (batch.length) out.push(`{"changes":[${batch.join(',')}]}`);
  return out;
}

const isKind = (value: unknown): value is ChangeKind => typeof value === 'string' && (CHANGE_KINDS as readonly string[]).includes(value);

export class ChangeFeed {
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private readonly pending = new Map<string, Pending>();
  /** Announcements gathered for the next notification, by account. */
  private readonly outgoing = new Map<string, Set<ChangeKind>>();
  private sendTimer: NodeJS.Timeout | undefined;

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

  /**
   * A change of shared state: heard by the listeners of every node sharing
   * the store (this one through the channel too). Announcements are gathered
   * for a moment and sent as one notification (or a few, under the
   * channel's payload limit), so a busy node sends a few notifications a
   * second whatever its load, whether or not a console is open anywhere.
   */
  announce(accountId: string, kinds: readonly ChangeKind[]): void {
    let pending = this.outgoing.get(accountId);
    if (!pending) this.outgoing.set(accountId, (pending = new Set()));
    for (const kind of kinds) pending.add(kind);
    if (this.sendTimer) return;
    this.sendTimer = setTimeout(() => this.send(), COALESCE_MS);
    this.sendTimer.unref();
  }

  private send(): void {
    this.sendTimer = undefined;
    const notices = [...this.outgoing].map(([account, kinds]) => ({ account, kinds: [...kinds] }));
    this.outgoing.clear();
    for (const payload of payloads(notices)) {
      // A lost notice costs a console its live update until the next one, never a wrong answer: it reads the API.
      this.store.notify(CHANGES_CHANNEL, payload).catch((error: unknown) => {
        this.log.warn({ err: error, event: 'console_change_not_announced' }, 'changes were not announced to the consoles; they show them with the next ones');
      });
    }
  }

  /** Listens on the channel; resolves with a function that stops listening. */
  listen(): Promise<() => Promise<void>> {
    return this.store.listen(CHANGES_CHANNEL, (payload) => {
      let notices: unknown;
      try {
        notices = (JSON.parse(payload) as { changes?: unknown }).changes;
      } catch {
        return;
      }
      if (!Array.isArray(notices)) return;
      for (const notice of notices as { account?: unknown; kinds?: unknown }[]) {
        if (typeof notice?.account === 'string' && Array.isArray(notice.kinds)) this.changed(notice.account, notice.kinds.filter(isKind));
      }
    });
  }

  /** After the notification connection was lost and is back: notices in between are gone, so every list may have changed. */
  everythingChanged(): void {
    for (const accountId of this.accounts()) this.changed(accountId, CHANGE_KINDS);
  }

  stop(): void {
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    this.pending.clear();
    clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    this.outgoing.clear();
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
