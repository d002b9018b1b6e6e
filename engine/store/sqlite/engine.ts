/**
 * The SQLite engine, main-thread side. Writes and transactions go to the
 * write worker (worker.ts); plain reads run here on a read-only connection
 * of the same file: in WAL mode a reader never waits on a writer, so a read
 * is answered at once even while another process holds the write lock. A
 * transaction's own reads go to the worker, which sees its uncommitted
 * writes. Notifications stay in this process: one SQLite file is one node.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';

import BetterSqlite3 from 'better-sqlite3';

import { SwitchboardError } from '../../errors.ts';
import type { Executor, NotificationHandler, Row, StoreEngine, TransactionOptions } from '../engine.ts';
import { render, type Sql } from '../sql.ts';
import { storageFailure, withStorage } from '../storage-errors.ts';
import { fromWire, type QueryMode, type WorkerAnswer, type WorkerOptions, type WorkerReady, type WorkerRequest } from './protocol.ts';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** What read() answers for a statement that must run on the worker's connection. */
const ON_WORKER = Symbol('on the worker');

export interface SqliteEngineOptions {
  synchronous?: 'normal' | 'full';
  idleTransactionMs?: number;
  /** Longest a write waits for another process's write lock (default 10 s, as PostgreSQL's default statement time-out). */
  lockWaitMs?: number;
}

/**
 * A write refused because another process held the write lock past the wait
 * is the catalogue's STORE_UNAVAILABLE (503, retryable) for every caller,
 * translated once here: the write was not made and will not be, and trying
 * again shortly can work. The SQLite error stays its cause (the readiness
 * probe reads it).
 */
function lockedOut(error: Error): Error {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY')) return error;
  return new SwitchboardError('STORE_UNAVAILABLE', 'The data store is busy (another program is writing to it), so this could not be done. You may try once more in a moment; if it fails again, tell the caller it cannot be done right now.', {
    cause: error,
    retryAfter: 2,
  });
}

export class SqliteEngine implements StoreEngine {
  readonly dialect = 'sqlite' as const;
  private readonly pending = new Map<number, Pending>();
  private readonly notifications = new EventEmitter();
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private nextId = 1;
  private nextTx = 1;
  private closed = false;

  private constructor(
    readonly location: string,
    private readonly worker: Worker,
    /** The main thread's read-only connection. */
    readonly reader: BetterSqlite3.Database,
  ) {
    worker.on('message', (message: WorkerAnswer) => {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (message.ok) waiting.resolve(message.result);
      else waiting.reject(lockedOut(fromWire(message.error)));
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => this.failAll(new Error('the SQLite write worker stopped')));
    this.notifications.setMaxListeners(0);
  }

  /** Opens (creating and migrating) the database file; rejects with STORE_UNWRITABLE naming the file when the disk is the problem. */
  static async open(file: string, options: SqliteEngineOptions = {}): Promise<SqliteEngine> {
    if (file === ':memory:') throw new Error('the SQLite engine needs a file: a database in memory cannot be shared with its write worker');
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: { file, synchronous: options.synchronous ?? 'full', idleTransactionMs: options.idleTransactionMs ?? 30_000, lockWaitMs: options.lockWaitMs ?? 10_000 } satisfies WorkerOptions,
    });
    const ready = await new Promise<WorkerReady>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!ready.ready) {
      await worker.terminate();
      const error = fromWire(ready.error);
      throw storageFailure(error, file) ?? error;
    }
    const reader = withStorage(file, () => new BetterSqlite3(file, { readonly: true }));
    reader.pragma('busy_timeout = 5000');
    return new SqliteEngine(file, worker, reader);
  }

  private send(request: Request): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  /** The rows (or row, or undefined for none) read here, or ON_WORKER for a statement the read-only connection cannot run. */
  private read(mode: 'all' | 'get', query: Sql): unknown {
    const { text, values } = render(query, 'sqlite');
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.reader.prepare(text);
      if (this.statements.size > 500) this.statements.delete(this.statements.keys().next().value as string);
      this.statements.set(text, statement);
    }
    // A statement that writes (even in a CTE) cannot run on the read-only connection: it goes to the worker.
    if (!statement.readonly) return ON_WORKER;
    return mode === 'all' ? statement.all(...values) : statement.get(...values);
  }

  private query(mode: QueryMode, query: Sql, tx: number | null, durable = true): Promise<unknown> {
    const { text, values } = render(query, 'sqlite');
    return this.send({ kind: 'query', tx, mode, text, values, durable });
  }

  async all<T = Row>(query: Sql): Promise<T[]> {
    const rows = this.read('all', query);
    return (rows === ON_WORKER ? await this.query('all', query, null) : rows) as T[];
  }

  async get<T = Row>(query: Sql): Promise<T | undefined> {
    // A read that finds no row is answered here too: sent on to the worker, it would wait behind every commit and any other process's write lock.
    const local = this.read('get', query);
    const row = local === ON_WORKER ? await this.query('get', query, null) : local;
    return (row ?? undefined) as T | undefined;
  }

  async run(query: Sql): Promise<number> {
    return (await this.query('run', query, null)) as number;
  }

  async transaction<T>(work: (tx: Executor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const tx = this.nextTx++;
    await this.send({ kind: 'begin', tx, durable: options.durable ?? true });
    const executor: Executor = {
      all: async <R>(query: Sql) => (await this.query('all', query, tx)) as R[],
      get: async <R>(query: Sql) => ((await this.query('get', query, tx)) ?? undefined) as R | undefined,
      run: async (query: Sql) => (await this.query('run', query, tx)) as number,
    };
    let value: T;
    try {
      value = await work(executor);
    } catch (error) {
      await this.send({ kind: 'rollback', tx }).catch(() => undefined);
      throw error;
    }
    await this.send({ kind: 'commit', tx });
    return value;
  }

  async notify(channel: string, payload: string): Promise<void> {
    this.notifications.emit(channel, payload);
  }

  async listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    this.notifications.on(channel, handler);
    return async () => void this.notifications.off(channel, handler);
  }

  onReconnect(): void {
    // One process, no connection to lose.
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.send({ kind: 'close' }).catch(() => undefined);
    this.closed = true;
    this.reader.close();
    await this.worker.terminate();
  }
}
