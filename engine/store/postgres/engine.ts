/**
 * The PostgreSQL engine: a pool of connections (node-postgres) for one node
 * or several sharing one database. Statements come from the same `sql` tag
 * as SQLite's; BIGINT columns (times in ms, ids) are read as numbers, which
 * they fit. A transaction is BEGIN…COMMIT on one pooled connection at READ
 * COMMITTED; the stores' conditional updates (`… WHERE status = 'pending'`)
 * settle races the same way they do on SQLite. A non-durable transaction
 * sets `synchronous_commit = off` for itself only.
 *
 * Notifications (LISTEN/NOTIFY) use one dedicated connection outside the
 * pool. When it drops, it is opened again with backoff and every channel is
 * listened to again; since notifications sent in between are lost, the
 * engine then tells its `onReconnect` handlers, which catch up by query.
 *
 * Migrations: the `.sql` files of migrations/postgres, applied once each in
 * name order under an advisory lock, so nodes starting together apply them
 * once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { SwitchboardError } from '../../errors.ts';
import type { Executor, NotificationHandler, Row, StoreEngine, TransactionOptions } from '../engine.ts';
import { render, type Sql } from '../sql.ts';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database?sslmode=… */
  url: string;
  poolSize?: number;
  statementTimeoutMs?: number;
  /** A PEM file of the CA that signed the server's certificate (verify-full). */
  caFile?: string | undefined;
  /** Told of notification-connection trouble (never with the URL's password). */
  onError?: (error: Error) => void;
  /**
   * How the connections name themselves in pg_stat_activity, unless the URL's
   * application_name or PGAPPNAME says otherwise: an operator (and `switchboard
   * migrate`, which refuses a database nodes are using) tells nodes apart from
   * other clients. Default "switchboard".
   */
  applicationName?: string;
}

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations', 'postgres');
/** Advisory lock key of the migration step: nodes starting at once apply each migration once. */
const MIGRATION_LOCK = 7_361_290_114;
const INT8 = 20;

/** BIGINT as number: times in ms and ids stay far below 2^53. */
const types = {
  getTypeParser: (oid: number, format?: string) => (oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')),
};

/** host:port/database of a URL, without user or password. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'postgres (unparsable URL)';
  }
}

/** Errors that mean the server cannot be reached now, not that the statement is wrong: connection classes 08, 57P0x, network codes. */
const UNREACHABLE = /^(08|57P0[1-3]|53300|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)/;

/**
 * A database that cannot be reached is the catalogue's STORE_UNAVAILABLE
 * (503, retryable) for every caller, translated once here, so a tool says
 * "try again" and an admin request gets 503 instead of a 500 with a stack.
 */
export function unreachable(error: unknown): SwitchboardError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  if ((typeof code === 'string' && UNREACHABLE.test(code)) || /Connection terminated|timeout exceeded when trying to connect/i.test(message)) {
    return new SwitchboardError('STORE_UNAVAILABLE', 'The data store cannot be reached right now, so this could not be done. You may try once more in a moment; if it fails again, tell the caller it cannot be done right now.', {
      cause: error,
      retryAfter: 2,
    });
  }
  return undefined;
}

async function runQuery(client: pg.Pool | pg.PoolClient, query: Sql): Promise<pg.QueryResult> {
  const { text, values } = render(query, 'postgres');
  try {
    return await client.query({ text, values, types });
  } catch (error) {
    throw unreachable(error) ?? error;
  }
}

function executorOf(client: pg.Pool | pg.PoolClient): Executor {
  return {
    all: async <T>(query: Sql) => (await runQuery(client, query)).rows as T[],
    get: async <T>(query: Sql) => (await runQuery(client, query)).rows[0] as T | undefined,
    run: async (query: Sql) => {
      const result = await runQuery(client, query);
      return result.rowCount ?? result.rows.length;
    },
  };
}

export class PostgresEngine implements StoreEngine {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly executor: Executor;
  private readonly channels = new Map<string, Set<NotificationHandler>>();
  private readonly reconnectHandlers: (() => void)[] = [];
  private listener: pg.Client | undefined;
  private listenerReady: Promise<pg.Client> | undefined;
  private listenerQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly options: PostgresOptions) {
    this.location = describeUrl(options.url);
    this.pool = new pg.Pool({ ...this.connection(), max: options.poolSize ?? 10, statement_timeout: options.statementTimeoutMs ?? 10_000 });
    // An idle pooled connection that dies (a failover, a restart) is dropped by the pool; it must not crash the process.
    this.pool.on('error', (error) => options.onError?.(error));
    this.executor = executorOf(this.pool);
  }

  private connection(): pg.ClientConfig {
    const ca = this.options.caFile ? fs.readFileSync(this.options.caFile, 'utf8') : undefined;
    return {
      connectionString: this.options.url,
      fallback_application_name: this.options.applicationName ?? 'switchboard',
      ...(ca ? { ssl: { ca, rejectUnauthorized: true } } : {}),
    };
  }

  /** Connects, and applies the migrations not applied yet. */
  static async open(options: PostgresOptions): Promise<PostgresEngine> {
    const engine = new PostgresEngine(options);
    try {
      await engine.migrate();
    } catch (error) {
      await engine.pool.end().catch(() => undefined);
      throw error;
    }
    return engine;
  }

  private async migrate(): Promise<string[]> {
    const files = fs
      .readdirSync(MIGRATIONS_DIR)
      .filter((file) => file.endsWith('.sql'))
      .sort();
    const client = await this.pool.connect();
    const applied: string[] = [];
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      for (const file of files) {
        const name = file.replace(/\.sql$/, '');
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE name = $1', [name]);
        if (done.rowCount) continue;
        await client.query('BEGIN');
        try {
          await client.query(fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8'));
          await client.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [name, Date.now()]);
          await client.query('COMMIT');
          applied.push(name);
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      client.release();
    }
    return applied;
  }

  all<T = Row>(query: Sql): Promise<T[]> {
    return this.executor.all<T>(query);
  }

  get<T = Row>(query: Sql): Promise<T | undefined> {
    return this.executor.get<T>(query);
  }

  run(query: Sql): Promise<number> {
    return this.executor.run(query);
  }

  async transaction<T>(work: (tx: Executor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw unreachable(error) ?? error;
    }
    // The pool hears errors of idle connections only: one cut while checked out would otherwise be an uncaught 'error'.
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
      this.options.onError?.(error);
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (options.durable === false) await client.query('SET LOCAL synchronous_commit = off');
      const value = await work(executorOf(client));
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const lost = unreachable(error);
      if (lost) broken ??= lost;
      throw lost ?? error;
    } finally {
      client.off('error', onError);
      // A connection that failed goes, rather than back into the pool for the next transaction to find dead.
      client.release(broken);
    }
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    let handlers = this.channels.get(channel);
    const first = !handlers;
    if (!handlers) this.channels.set(channel, (handlers = new Set()));
    handlers.add(handler);
    const client = await this.listenConnection();
    if (first) await this.onListener(client, `LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.channels.get(channel) === handlers) {
        this.channels.delete(channel);
        if (this.listener) await this.onListener(this.listener, `UNLISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`).catch(() => undefined);
      }
    };
  }

  /**
   * One statement at a time on the listening connection: several parts
   * start listening at once, and a pg.Client given a query while another
   * runs queues it with a deprecation warning (pg 9 will refuse it).
   */
  private onListener(client: pg.Client, statement: string): Promise<unknown> {
    const run = this.listenerQueue.then(() => client.query(statement));
    this.listenerQueue = run.catch(() => undefined);
    return run;
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** The dedicated LISTEN connection, opened on first use and again (with backoff) whenever it drops. */
  private listenConnection(): Promise<pg.Client> {
    this.listenerReady ??= this.connectListener(0);
    return this.listenerReady;
  }

  private async connectListener(attempt: number): Promise<pg.Client> {
    for (let tries = attempt; ; tries++) {
      if (this.closed) throw new Error('the store is closed');
      const client = new pg.Client(this.connection());
      // Listening before connect: a connection cut while it opens is an 'error' event, which unheard would end the process.
      client.on('error', (error) => {
        this.options.onError?.(error);
        void client.end().catch(() => undefined);
      });
      try {
        await client.connect();
        client.on('notification', (message) => {
          for (const handler of this.channels.get(message.channel) ?? []) handler(message.payload ?? '');
        });
        client.on('end', () => {
          if (this.closed || this.listener !== client) return;
          this.listener = undefined;
          this.listenerReady = this.connectListener(1).then(async (fresh) => {
            for (const handler of this.reconnectHandlers) handler();
            return fresh;
          });
          this.listenerReady.catch(() => undefined);
        });
        for (const channel of this.channels.keys()) await client.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`);
        this.listener = client;
        return client;
      } catch (error) {
        await client.end().catch(() => undefined);
        this.options.onError?.(error as Error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 500 * 2 ** Math.min(tries, 6))));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
