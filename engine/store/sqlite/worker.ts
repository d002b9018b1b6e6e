/**
 * The SQLite write worker: owns the one connection that writes, so a commit
 * that waits for the disk, or for another process's write lock (a backup,
 * an import, a `sqlite3` shell), waits here and not on the event loop.
 *
 * Group commit: transactions that arrive back to back run one after another
 * inside one outer IMMEDIATE transaction, each in a savepoint of its own; a
 * failed one rolls back alone. The outer transaction commits when no further
 * transaction is waiting (after the worker has read the messages already
 * queued), or after a bounded batch, and only then is each of them answered
 * "committed": nobody hears "done" before the data is on disk. A batch made
 * only of non-durable transactions (audit rows) commits without an fsync.
 *
 * Another process holding the write lock (a backup, an import, a `sqlite3`
 * shell): writes wait in the queue, each for up to `lockWaitMs` from its
 * arrival, while the lock is asked for again every few milliseconds; one
 * whose wait runs out is refused (SQLITE_BUSY) and never carried out later.
 * SQLite's own busy wait is not used for that lock: it would hold this
 * thread for the whole wait, and the one write at the head of the queue
 * would fail when it ran out while those behind it still had time.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type BetterSqlite3 from 'better-sqlite3';

import { BUSY_TIMEOUT_MS, openDatabase } from '../database.ts';
import { toWire, type WorkerAnswer, type WorkerOptions, type WorkerReady, type WorkerRequest } from './protocol.ts';

const MAX_BATCH = 64;
const MAX_BATCH_MS = 20;
/** While another process holds the write lock: how long one attempt to take it waits (SQLite's busy wait), and how soon the next is made. */
const LOCK_ATTEMPT_MS = 10;
const LOCK_RETRY_MS = 10;

interface Waiting {
  /** The begin request (or, for a statement on its own, the statement). */
  request: Extract<WorkerRequest, { kind: 'begin' } | { kind: 'query' }>;
  /** When it reached the worker (Date.now()). */
  since: number;
}

interface Released {
  id: number;
  durable: boolean;
  result: unknown;
}

const port = parentPort;
if (!port) throw new Error('the SQLite worker must run in a worker thread');
const options = workerData as WorkerOptions;

let db: BetterSqlite3.Database;
try {
  db = openDatabase(options.file, { synchronous: options.synchronous });
  port.postMessage({ ready: true } satisfies WorkerReady);
} catch (error) {
  // openDatabase words a failure of the disk as STORE_UNWRITABLE; its cause carries the SQLite or file-system code,
  // from which the main thread words it again as an error of the catalogue (an Error from the wire is not one).
  port.postMessage({ ready: false, error: toWire((error as { cause?: unknown }).cause ?? error) } satisfies WorkerReady);
  process.exit(0);
}

const statements = new Map<string, BetterSqlite3.Statement>();
const prepared = (text: string): BetterSqlite3.Statement => {
  let statement = statements.get(text);
  if (!statement) {
    statement = db.prepare(text);
    if (statements.size > 500) statements.delete(statements.keys().next().value as string);
    statements.set(text, statement);
  }
  return statement;
};

const answer = (message: WorkerAnswer): void => port.postMessage(message);

function execute(mode: 'all' | 'get' | 'run', text: string, values: unknown[]): unknown {
  const statement = prepared(text);
  if (mode === 'run') return statement.reader ? statement.all(...values).length : statement.run(...values).changes;
  return mode === 'all' ? statement.all(...values) : (statement.get(...values) ?? null);
}

const waiting: Waiting[] = [];
let released: Released[] = [];
let outerOpen = false;
let outerDurable = true;
let outerStartedAt = 0;
let active: { tx: number; durable: boolean; timer: NodeJS.Timeout } | undefined;
let finishScheduled = false;
/** Set while another process holds the write lock: the next attempt to take it. */
let lockRetry: NodeJS.Timeout | undefined;

/** SQLite sets the fsync policy per connection, outside transactions: a batch is durable or not from its start. */
function openOuter(durable: boolean): void {
  if (outerOpen) return;
  if (!durable && options.synchronous === 'full') db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${LOCK_ATTEMPT_MS}`);
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    if (!durable && options.synchronous === 'full') db.pragma('synchronous = FULL');
    throw error;
  } finally {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
  outerOpen = true;
  outerDurable = durable;
  outerStartedAt = Date.now();
}

/** Commits the outer transaction and answers every transaction released into it. */
function finishOuter(): void {
  finishScheduled = false;
  if (!outerOpen || active) return;
  const batch = released;
  released = [];
  let failure: unknown;
  try {
    db.exec('COMMIT');
  } catch (error) {
    failure = error;
    if (db.inTransaction) db.exec('ROLLBACK');
  } finally {
    outerOpen = false;
    if (!outerDurable && options.synchronous === 'full') db.pragma('synchronous = FULL');
  }
  for (const item of batch) answer(failure === undefined ? { id: item.id, ok: true, result: item.result } : { id: item.id, ok: false, error: toWire(failure) });
  pump();
}

const savepoint = (tx: number): string => `sp_${tx}`;

function idleTimeout(tx: number): NodeJS.Timeout {
  return setTimeout(() => {
    if (active?.tx !== tx) return;
    // A transaction whose work stalled must not hold every other write: it is rolled back.
    db.exec(`ROLLBACK TO ${savepoint(tx)}; RELEASE ${savepoint(tx)}`);
    active = undefined;
    abandoned.add(tx);
    pump();
  }, options.idleTransactionMs);
}
const abandoned = new Set<number>();

/** Gives the write side to the next waiting transaction, or commits the batch when none waits. */
function pump(): void {
  if (active || lockRetry) return;
  if (outerOpen && (released.length >= MAX_BATCH || Date.now() - outerStartedAt > MAX_BATCH_MS)) return finishOuter();
  // A durable transaction never rides in a batch that commits without an fsync.
  if (outerOpen && !outerDurable && waiting[0]?.request.durable) return finishOuter();
  const next = waiting.shift();
  if (!next) {
    // Messages already queued are read before the commit, so transactions that came together commit together.
    if (outerOpen && !finishScheduled) {
      finishScheduled = true;
      setImmediate(finishOuter);
    }
    return;
  }
  const request = next.request;
  try {
    openOuter(request.durable);
  } catch (error) {
    if (isBusy(error)) {
      waiting.unshift(next);
      return waitForLock(error);
    }
    answer({ id: request.id, ok: false, error: toWire(error) });
    return pump();
  }
  if (request.kind === 'begin') {
    db.exec(`SAVEPOINT ${savepoint(request.tx)}`);
    active = { tx: request.tx, durable: request.durable, timer: idleTimeout(request.tx) };
    answer({ id: request.id, ok: true, result: null });
    return;
  }
  // A statement on its own: its own savepoint, released into the batch.
  db.exec('SAVEPOINT single');
  try {
    const result = execute(request.mode, request.text, request.values);
    db.exec('RELEASE single');
    released.push({ id: request.id, durable: request.durable, result });
  } catch (error) {
    db.exec('ROLLBACK TO single; RELEASE single');
    answer({ id: request.id, ok: false, error: toWire(error) });
  }
  pump();
}

const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
};

/** Another process holds the write lock: writes whose wait has run out are refused, the others ask again shortly. */
function waitForLock(error: unknown): void {
  const now = Date.now();
  const busy = toWire(error);
  for (const late of waiting.filter((entry) => now - entry.since >= options.lockWaitMs)) {
    waiting.splice(waiting.indexOf(late), 1);
    answer({ id: late.request.id, ok: false, error: { code: busy.code, message: `another process held the database's write lock for ${Math.round(options.lockWaitMs / 1000)} s (${busy.message})` } });
  }
  if (!waiting.length) return;
  lockRetry = setTimeout(() => {
    lockRetry = undefined;
    pump();
  }, LOCK_RETRY_MS);
}

function inTransaction(request: { id: number; tx: number }): boolean {
  if (active?.tx === request.tx) {
    active.timer.refresh();
    return true;
  }
  const why = abandoned.delete(request.tx) ? 'the transaction was rolled back: it held the write side too long without a statement' : 'no such transaction';
  answer({ id: request.id, ok: false, error: { message: why, code: 'SWITCHBOARD_TX' } });
  return false;
}

port.on('message', (request: WorkerRequest) => {
  switch (request.kind) {
    case 'begin':
      waiting.push({ request, since: Date.now() });
      return pump();
    case 'query':
      if (request.tx === null) {
        waiting.push({ request, since: Date.now() });
        return pump();
      }
      if (!inTransaction(request as { id: number; tx: number })) return;
      try {
        answer({ id: request.id, ok: true, result: execute(request.mode, request.text, request.values) });
      } catch (error) {
        answer({ id: request.id, ok: false, error: toWire(error) });
      }
      return;
    case 'commit':
    case 'rollback': {
      if (!inTransaction(request)) return;
      const current = active as NonNullable<typeof active>;
      clearTimeout(current.timer);
      active = undefined;
      if (request.kind === 'commit') {
        db.exec(`RELEASE ${savepoint(request.tx)}`);
        released.push({ id: request.id, durable: current.durable, result: null });
      } else {
        db.exec(`ROLLBACK TO ${savepoint(request.tx)}; RELEASE ${savepoint(request.tx)}`);
        answer({ id: request.id, ok: true, result: null });
      }
      return pump();
    }
    case 'close':
      clearTimeout(lockRetry);
      if (outerOpen && !active) finishOuter();
      db.close();
      answer({ id: request.id, ok: true, result: null });
      port.close();
      return;
  }
});
