/**
 * The audit trail of tool calls: written from the request path, read by the
 * admin API and `switchboard audit`, trimmed by the retention job.
 *
 * Writing is shaped by cost. `record` only appends the event to a queue; the
 * queue is written in one store transaction a few milliseconds later (or at
 * once when it reaches a batch size), not durable on its own (`durable:
 * false`: the next durable commit carries it; on PostgreSQL
 * synchronous_commit is off for it), so a burst of calls pays one cheap
 * commit and serializing and masking happen off the answer's path. One batch
 * is written at a time. A crash can lose the rows of the last few
 * milliseconds; a graceful shutdown loses none: `close` writes the queue and
 * every row recorded after it is written at once. A failed write keeps the
 * rows queued and retries (up to a cap, past which the oldest are dropped and
 * logged).
 *
 * Reading is newest first by (time, id), paged with an opaque cursor, and
 * always within one account: every query has `account_id = …`.
 */
import type { Logger } from '../logging.ts';
import type { StoreEngine } from '../store/engine.ts';
import { join, sql, type Sql } from '../store/sql.ts';
import type { AuditMetrics } from '../vocabulary/metric-sinks.ts';
import type { ToolCallEvent, ToolCallRecorder, ToolCallStatus } from '../vocabulary/tool-calls.ts';

export interface AuditEntry {
  id: number;
  at: number;
  accountId: string;
  personaId: string;
  callId: string;
  keyId: string;
  tool: string;
  arguments: Record<string, unknown>;
  status: ToolCallStatus;
  errorCode: string | null;
  text: string;
  durationMs: number;
}

/** Where a page ended: the next page starts after this row. */
export interface AuditCursor {
  at: number;
  id: number;
}

export interface AuditQuery {
  accountId: string;
  callId?: string;
  tool?: string;
  personaId?: string;
  status?: ToolCallStatus;
  /** Rows that started at or after this time (ms). */
  since?: number;
  /** Rows that started before this time (ms). */
  until?: number;
  limit: number;
  cursor?: AuditCursor;
}

export interface AuditPage {
  items: AuditEntry[];
  next: AuditCursor | null;
}

export interface AuditWriteOptions {
  /** Longest a recorded row waits before its batch is written. */
  flushMs: number;
  /** A batch this large is written at once. */
  maxBatch: number;
  /** Rows kept while the database refuses writes; past it the oldest are dropped. */
  maxQueue: number;
}

const DEFAULT_WRITE: AuditWriteOptions = { flushMs: 10, maxBatch: 200, maxQueue: 10_000 };
const RETRY_MS = 1000;
/** Rows per INSERT: 11 values each stays far below either engine's limit of bound values in one statement. */
const ROWS_PER_INSERT = 100;
/** Stored sizes: enough for any real tool call, bounded against a runaway argument or answer. */
export const MAX_ARGUMENTS_CHARS = 16_384;
export const MAX_TEXT_CHARS = 8192;

interface AuditRow {
  id: number;
  at: number;
  account_id: string;
  persona_id: string;
  call_id: string;
  key_id: string;
  tool: string;
  arguments: string;
  status: ToolCallStatus;
  error_code: string | null;
  result_text: string;
  duration_ms: number;
}

type NewRow = Omit<AuditRow, 'id'>;

/** Replaces every secret value in a text; the identity until the server sets one. */
export type Masker = (text: string) => string;

const truncate = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…[truncated]` : text);

function maskValues(value: unknown, mask: Masker): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) return value.map((item) => maskValues(item, mask));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskValues(item, mask)]));
  return value;
}

function argumentsJson(args: Record<string, unknown>, mask: Masker): string {
  const json = JSON.stringify(maskValues(args, mask));
  return json.length > MAX_ARGUMENTS_CHARS ? JSON.stringify({ '[truncated]': truncate(json, MAX_ARGUMENTS_CHARS) }) : json;
}

const COLUMNS = sql`id, at, account_id, persona_id, call_id, key_id, tool, arguments, status, error_code, result_text, duration_ms`;

const valuesOf = (row: NewRow): Sql =>
  sql`(${row.at}, ${row.account_id}, ${row.persona_id}, ${row.call_id}, ${row.key_id}, ${row.tool}, ${row.arguments}, ${row.status}, ${row.error_code}, ${row.result_text}, ${row.duration_ms})`;

export class AuditLog implements ToolCallRecorder {
  private queue: ToolCallEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private mask: Masker = (text) => text;
  private readonly options: AuditWriteOptions;
  /** The batch being written, and those asked for after it, in order. */
  private writing: Promise<number> = Promise.resolve(0);
  private readonly written: ((accounts: ReadonlySet<string>) => void)[] = [];

  constructor(
    private readonly store: StoreEngine,
    private readonly log: Logger,
    private readonly metrics: AuditMetrics,
    options: Partial<AuditWriteOptions> = {},
  ) {
    this.options = { ...DEFAULT_WRITE, ...options };
  }

  /** Sets how secret values are masked in arguments and texts before they are stored. */
  setMasker(mask: Masker): void {
    this.mask = mask;
  }

  /** Told after each batch is written which accounts it held rows of (the console's live view reads them then). */
  onWritten(listener: (accounts: ReadonlySet<string>) => void): void {
    this.written.push(listener);
  }

  /** Queues a tool call for writing; cheap enough for the request path. */
  record(event: ToolCallEvent): void {
    this.queue.push(event);
    if (this.closed) {
      void this.flush();
    } else if (this.queue.length >= this.options.maxBatch) {
      this.immediate ??= setImmediate(() => void this.flush());
    } else {
      this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
    }
  }

  /**
   * Writes every queued row, after any batch already being written; resolves
   * with how many this call wrote (0 when the write failed: the rows stay
   * queued for a retry). Never rejects.
   */
  flush(): Promise<number> {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.writing = this.writing.then(() => this.writeQueued());
    return this.writing;
  }

  private async writeQueued(): Promise<number> {
    if (!this.queue.length) return 0;
    const batch = this.queue;
    this.queue = [];
    try {
      const rows = batch.map((event) => this.toRow(event));
      // A lost audit batch is acceptable on power failure, an fsync for every batch is not.
      await this.store.transaction(
        async (tx) => {
          for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
            const chunk = rows.slice(start, start + ROWS_PER_INSERT);
            await tx.run(
              sql`INSERT INTO audit_log (at, account_id, persona_id, call_id, key_id, tool, arguments, status, error_code, result_text, duration_ms) VALUES ${join(chunk.map(valuesOf), ', ')}`,
            );
          }
        },
        { durable: false },
      );
      if (this.written.length) {
        const accounts = new Set(batch.map((event) => event.call.accountId));
        for (const listener of this.written) {
          try {
            listener(accounts);
          } catch (error) {
            this.log.error({ err: error, event: 'audit_listener_failed' }, 'a listener of written audit rows failed');
          }
        }
      }
      return batch.length;
    } catch (error) {
      this.metrics.auditWriteFailed();
      const kept = [...batch, ...this.queue];
      const dropped = Math.max(0, kept.length - this.options.maxQueue);
      this.queue = kept.slice(dropped);
      this.log.error({ err: error, event: 'audit_write_failed', queued: this.queue.length, dropped }, 'could not write audit rows; will retry');
      if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), RETRY_MS).unref();
      return 0;
    }
  }

  /**
   * Writes what is queued and from now on writes each row as it is recorded;
   * resolves once every row recorded so far is written (or failed). Waits
   * one turn of the event loop first: tool calls cut short by the shutdown
   * finish in the microtasks right after the abort. Called again, it waits
   * for the rows recorded since.
   */
  async close(): Promise<void> {
    this.closed = true;
    await new Promise((resolve) => setImmediate(resolve));
    await this.flush();
  }

  private toRow(event: ToolCallEvent): NewRow {
    return {
      at: event.startedAt,
      account_id: event.call.accountId,
      persona_id: event.call.personaId,
      call_id: event.call.callId,
      key_id: event.call.keyId,
      tool: event.tool,
      arguments: argumentsJson(event.arguments, this.mask),
      status: event.status,
      error_code: event.errorCode ?? null,
      result_text: truncate(this.mask(event.text), MAX_TEXT_CHARS),
      duration_ms: Math.round(event.durationMs * 10) / 10,
    };
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const conditions: Sql[] = [sql`account_id = ${query.accountId}`];
    if (query.callId !== undefined) conditions.push(sql`call_id = ${query.callId}`);
    if (query.tool !== undefined) conditions.push(sql`tool = ${query.tool}`);
    if (query.personaId !== undefined) conditions.push(sql`persona_id = ${query.personaId}`);
    if (query.status !== undefined) conditions.push(sql`status = ${query.status}`);
    if (query.since !== undefined) conditions.push(sql`at >= ${query.since}`);
    if (query.until !== undefined) conditions.push(sql`at < ${query.until}`);
    if (query.cursor) conditions.push(sql`(at, id) < (${query.cursor.at}, ${query.cursor.id})`);
    const rows = await this.store.all<AuditRow>(sql`SELECT ${COLUMNS} FROM audit_log WHERE ${join(conditions, ' AND ')} ORDER BY at DESC, id DESC LIMIT ${query.limit + 1}`);
    const items = rows.slice(0, query.limit).map(fromRow);
    const last = items[items.length - 1];
    return { items, next: rows.length > query.limit && last ? { at: last.at, id: last.id } : null };
  }

  /** Deletes up to `limit` rows that started before `cutoff`; returns how many. */
  deleteBefore(cutoff: number, limit: number): Promise<number> {
    return this.store.run(sql`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ${cutoff} ORDER BY at LIMIT ${limit})`);
  }
}

function fromRow(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    accountId: row.account_id,
    personaId: row.persona_id,
    callId: row.call_id,
    keyId: row.key_id,
    tool: row.tool,
    arguments: JSON.parse(row.arguments) as Record<string, unknown>,
    status: row.status,
    errorCode: row.error_code,
    text: row.result_text,
    durationMs: row.duration_ms,
  };
}
