/**
 * The store engine: the one asynchronous way every capability reaches live
 * state (calls and commands, leads and cases, contacts, DND, keys, audit,
 * contact-source state). Two engines stand behind it, chosen by the
 * database setting:
 *
 *   - SQLite (the default, one file, zero configuration): writes and
 *     transactions run in a worker thread that owns the write connection,
 *     with group commit, so a commit's fsync or another process's write lock
 *     never stalls the event loop; plain reads run on the main thread's own
 *     connection, which in WAL mode never waits on a writer.
 *   - PostgreSQL (`--database postgres://…`): a pool of connections, for one
 *     node or several sharing the database.
 *
 * Stores write their SQL once with the `sql` tag (sql.ts) in the subset both
 * engines speak. A transaction's work may await only its own `tx` calls:
 * with SQLite the whole write side waits for it to finish.
 *
 * An acknowledged write is committed: `run` and `transaction` resolve after
 * the commit is durable (unless asked for `durable: false`, which the audit
 * trail uses: such a commit is made durable by the next durable one).
 */
import type { Dialect, Sql } from './sql.ts';

export type Row = Record<string, unknown>;

/** What runs statements: the engine itself (each statement on its own) or a transaction. */
export interface Executor {
  all<T = Row>(query: Sql): Promise<T[]>;
  get<T = Row>(query: Sql): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves with the number of rows it changed. */
  run(query: Sql): Promise<number>;
}

export interface TransactionOptions {
  /** false: the commit need not reach the disk before it resolves (audit rows). Default true. */
  durable?: boolean;
}

/** A message to every node sharing the store (PostgreSQL NOTIFY), or to this process (SQLite). */
export type NotificationHandler = (payload: string) => void;

export interface StoreEngine extends Executor {
  readonly dialect: Dialect;
  /** Where the data is, for logs and status: a file, or host/database (never a password). */
  readonly location: string;
  /**
   * Runs `work` in one transaction: everything it wrote commits together,
   * or nothing does if it throws. Resolves with its value once committed.
   */
  transaction<T>(work: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Sends `payload` on `channel` to every listener, on every node, after the current commit. */
  notify(channel: string, payload: string): Promise<void>;
  /** Listens on `channel`; resolves with a function that stops listening. */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  /** Called after the engine lost and regained its notification connection: notifications in between are lost, callers catch up. */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}
