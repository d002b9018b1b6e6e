/**
 * The messages between the main thread and the SQLite write worker. Every
 * request carries an id and gets exactly one answer with that id. A
 * transaction is `begin` (answered when the worker gives it the write side),
 * its statements, then `commit` (answered once the commit is on disk) or
 * `rollback`. A statement with no transaction is one of its own.
 */

export type QueryMode = 'all' | 'get' | 'run';

export type WorkerRequest =
  | { id: number; kind: 'begin'; tx: number; durable: boolean }
  | { id: number; kind: 'query'; tx: number | null; mode: QueryMode; text: string; values: unknown[]; durable: boolean }
  | { id: number; kind: 'commit'; tx: number }
  | { id: number; kind: 'rollback'; tx: number }
  | { id: number; kind: 'close' };

export interface WireError {
  message: string;
  code: string | undefined;
}

export type WorkerAnswer = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

/** The worker's first message: the database is open and migrated, or why it is not. */
export type WorkerReady = { ready: true } | { ready: false; error: WireError };

export interface WorkerOptions {
  file: string;
  synchronous: 'normal' | 'full';
  /** Longest a transaction may hold the write side between two of its own messages. */
  idleTransactionMs: number;
  /** Longest a write waits for another process's write lock before it is refused. */
  lockWaitMs: number;
}

export const toWire = (error: unknown): WireError => ({
  message: error instanceof Error ? error.message : String(error),
  code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined,
});

/** An error from the worker as an Error with the SQLite code it had (storage-errors.ts reads it). */
export function fromWire(error: WireError): Error {
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}
