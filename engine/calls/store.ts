/**
 * Calls, their commands and their events in the store (SQLite or
 * PostgreSQL). Plain reads and single-row writes; the state changes that
 * must happen together (a command and the call's new state, an outcome and
 * its event) are composed in transactions by the CallControl service, which
 * owns the rules: every method that takes part in one takes the
 * transaction's Executor (the engine by default).
 *
 * Writes that settle a race are conditional (`state IN (...)`,
 * `status = 'pending'`, `delivered_at IS NULL`) and say whether they changed
 * the row, so whoever comes second learns it lost on both engines.
 */
import { randomUUID } from 'node:crypto';

import type { Executor, StoreEngine } from '../store/engine.ts';
import { dialect, forUpdate, join, list, sql, type Sql } from '../store/sql.ts';
import type { CallEvent, CallRecord, CallState, CommandKind, CommandRecord, CommandStatus, DriverName, TransferOutcome, TransferTarget } from './types.ts';

interface CallRow {
  account_id: string;
  call_id: string;
  persona_id: string | null;
  caller: string | null;
  source: 'pbx' | 'tool';
  pbx_call_ref: string | null;
  state: CallState;
  transferred_to: string | null;
  end_reason: string | null;
  hangup_at: number | null;
  created_at: number;
  updated_at: number;
  ended_at: number | null;
}

interface CommandRow {
  id: number;
  account_id: string;
  call_id: string;
  persona_id: string | null;
  kind: CommandKind;
  destination: string | null;
  destination_type: 'extension' | 'e164' | null;
  target: string | null;
  driver: DriverName;
  idempotency_key: string;
  status: CommandStatus;
  outcome: TransferOutcome | null;
  reason: string | null;
  attempts: number;
  ring_timeout_ms: number | null;
  mode: 'blind' | 'warm' | null;
  summary: string | null;
  created_at: number;
  delivered_at: number | null;
  settled_at: number | null;
}

interface EventRow {
  id: number;
  account_id: string;
  call_id: string;
  at: number;
  type: string;
  command_id: number | null;
  detail: string | null;
}

const toCall = (row: CallRow): CallRecord => ({
  accountId: row.account_id,
  callId: row.call_id,
  personaId: row.persona_id,
  caller: row.caller,
  source: row.source,
  pbxCallRef: row.pbx_call_ref,
  state: row.state,
  transferredTo: row.transferred_to,
  endReason: row.end_reason,
  hangupAt: row.hangup_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  endedAt: row.ended_at,
});

const toCommand = (row: CommandRow): CommandRecord => ({
  id: row.id,
  accountId: row.account_id,
  callId: row.call_id,
  personaId: row.persona_id,
  kind: row.kind,
  destination: row.destination,
  destinationType: row.destination_type,
  target: row.target ? (JSON.parse(row.target) as TransferTarget) : null,
  driver: row.driver,
  idempotencyKey: row.idempotency_key,
  status: row.status,
  outcome: row.outcome,
  reason: row.reason,
  attempts: row.attempts,
  ringTimeoutMs: row.ring_timeout_ms,
  mode: row.mode,
  summary: row.summary,
  createdAt: row.created_at,
  deliveredAt: row.delivered_at,
  settledAt: row.settled_at,
});

const toEvent = (row: EventRow): CallEvent => ({
  id: row.id,
  accountId: row.account_id,
  callId: row.call_id,
  at: row.at,
  type: row.type,
  commandId: row.command_id,
  detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null,
});

export interface NewCall {
  accountId: string;
  callId: string;
  personaId: string | null;
  caller: string | null;
  source: 'pbx' | 'tool';
  /** The phone system's id of the caller's leg, when it is not the call_id. */
  pbxCallRef?: string | null;
}

export interface NewCommand {
  accountId: string;
  callId: string;
  personaId: string | null;
  kind: CommandKind;
  destination?: string | null;
  destinationType?: 'extension' | 'e164' | null;
  target?: TransferTarget | null;
  driver: DriverName;
  ringTimeoutMs?: number | null;
  /** Transfers: blind or warm (hang-ups: none). */
  mode?: 'blind' | 'warm' | null;
  summary?: string | null;
}

/** Where a page of the call list ended. */
export interface CallListPosition {
  createdAt: number;
  callId: string;
}

export class CallStore {
  constructor(private readonly engine: StoreEngine) {}

  async call(accountId: string, callId: string, ex: Executor = this.engine): Promise<CallRecord | undefined> {
    const row = await ex.get<CallRow>(sql`SELECT * FROM calls WHERE account_id = ${accountId} AND call_id = ${callId}`);
    return row ? toCall(row) : undefined;
  }

  /**
   * The call, its row locked until the transaction ends (PostgreSQL; SQLite's
   * writer runs one transaction at a time). Every transaction that decides
   * about a call's commands takes this lock first, so decisions about one
   * call run one after another, and always in the same lock order (the call,
   * then its commands), which cannot deadlock.
   */
  async lockCall(accountId: string, callId: string, tx: Executor): Promise<CallRecord | undefined> {
    const row = await tx.get<CallRow>(sql`SELECT * FROM calls WHERE account_id = ${accountId} AND call_id = ${callId}${forUpdate}`);
    return row ? toCall(row) : undefined;
  }

  /** Creates the call unless it exists (then fills in what it lacked); tells which happened. */
  async ensureCall(call: NewCall, now: number, ex: Executor = this.engine): Promise<{ call: CallRecord; created: boolean }> {
    const pbxCallRef = call.pbxCallRef ?? null;
    const created =
      (await ex.run(sql`INSERT INTO calls (account_id, call_id, persona_id, caller, source, pbx_call_ref, state, created_at, updated_at)
        VALUES (${call.accountId}, ${call.callId}, ${call.personaId}, ${call.caller}, ${call.source}, ${pbxCallRef}, 'active', ${now}, ${now}) ON CONFLICT DO NOTHING`)) === 1;
    if (!created && (call.personaId || call.caller || pbxCallRef)) {
      await ex.run(sql`UPDATE calls SET persona_id = coalesce(persona_id, ${call.personaId}), caller = coalesce(caller, ${call.caller}),
          pbx_call_ref = coalesce(${pbxCallRef}, pbx_call_ref), updated_at = ${now}
        WHERE account_id = ${call.accountId} AND call_id = ${call.callId}`);
    }
    return { call: (await this.call(call.accountId, call.callId, ex)) as CallRecord, created };
  }

  /** The newest live call the phone system knows by `ref`: its own id (pbx_call_ref) first, else our call_id. */
  async callByRef(accountId: string, ref: string): Promise<CallRecord | undefined> {
    const row = await this.engine.get<CallRow>(
      sql`SELECT * FROM calls WHERE account_id = ${accountId} AND (pbx_call_ref = ${ref} OR (call_id = ${ref} AND pbx_call_ref IS NULL)) AND state <> 'ended'
        ORDER BY CASE WHEN pbx_call_ref = ${ref} THEN 1 ELSE 0 END DESC, created_at DESC LIMIT 1`,
    );
    return row ? toCall(row) : undefined;
  }

  /** Newest first; `after` is the last call of the previous page. */
  async listCalls(accountId: string, filter: { state?: CallState | undefined; personaId?: string | undefined; after?: CallListPosition | undefined; limit: number }): Promise<CallRecord[]> {
    // Conditions are left out rather than written `(? IS NULL OR …)`: PostgreSQL cannot type a parameter that is only compared with NULL.
    const conditions: Sql[] = [sql`account_id = ${accountId}`];
    if (filter.state !== undefined) conditions.push(sql`state = ${filter.state}`);
    if (filter.personaId !== undefined) conditions.push(sql`persona_id = ${filter.personaId}`);
    if (filter.after) conditions.push(sql`(created_at < ${filter.after.createdAt} OR (created_at = ${filter.after.createdAt} AND call_id > ${filter.after.callId}))`);
    const rows = await this.engine.all<CallRow>(sql`SELECT * FROM calls WHERE ${join(conditions, ' AND ')} ORDER BY created_at DESC, call_id LIMIT ${filter.limit}`);
    return rows.map(toCall);
  }

  /**
   * Moves the call to `to` if its state is one of `from`; false if it was not
   * (another request changed it first). Clears a scheduled hang-up unless one is given.
   */
  async setState(
    accountId: string,
    callId: string,
    from: readonly CallState[],
    to: CallState,
    now: number,
    extra: { transferredTo?: string; endReason?: string; hangupAt?: number } = {},
    ex: Executor = this.engine,
  ): Promise<boolean> {
    const endedAt = to === 'ended' ? sql`coalesce(ended_at, ${now})` : sql`ended_at`;
    const changed = await ex.run(sql`UPDATE calls SET state = ${to}, updated_at = ${now},
        transferred_to = coalesce(${extra.transferredTo ?? null}, transferred_to), end_reason = coalesce(${extra.endReason ?? null}, end_reason),
        ended_at = ${endedAt}, hangup_at = ${extra.hangupAt ?? null}
      WHERE account_id = ${accountId} AND call_id = ${callId} AND state IN ${list(from)}`);
    return changed === 1;
  }

  /** Claims a due hang-up for sending; false if another tick, another process or an end of the call took it first. */
  async takeHangup(accountId: string, callId: string, now: number, ex: Executor = this.engine): Promise<boolean> {
    return (await ex.run(sql`UPDATE calls SET hangup_at = NULL, updated_at = ${now} WHERE account_id = ${accountId} AND call_id = ${callId} AND hangup_at IS NOT NULL`)) === 1;
  }

  async dueHangups(now: number): Promise<CallRecord[]> {
    const rows = await this.engine.all<CallRow>(sql`SELECT * FROM calls WHERE hangup_at IS NOT NULL AND hangup_at <= ${now} AND state = 'ending' ORDER BY hangup_at`);
    return rows.map(toCall);
  }

  async nextHangupAt(): Promise<number | null> {
    const row = await this.engine.get<{ next: number | null }>(sql`SELECT min(hangup_at) AS next FROM calls WHERE hangup_at IS NOT NULL`);
    return row?.next ?? null;
  }

  async insertCommand(command: NewCommand, now: number, ex: Executor = this.engine): Promise<CommandRecord> {
    const row = await ex.get<CommandRow>(sql`INSERT INTO call_commands
        (account_id, call_id, persona_id, kind, destination, destination_type, target, driver, idempotency_key, status, ring_timeout_ms, mode, summary, created_at)
      VALUES (${command.accountId}, ${command.callId}, ${command.personaId}, ${command.kind}, ${command.destination ?? null}, ${command.destinationType ?? null},
        ${command.target ? JSON.stringify(command.target) : null}, ${command.driver}, ${randomUUID()}, 'pending', ${command.ringTimeoutMs ?? null},
        ${command.mode ?? null}, ${command.summary ?? null}, ${now})
      RETURNING *`);
    return toCommand(row as CommandRow);
  }

  async command(id: number, ex: Executor = this.engine): Promise<CommandRecord | undefined> {
    const row = await ex.get<CommandRow>(sql`SELECT * FROM call_commands WHERE id = ${id}`);
    return row ? toCommand(row) : undefined;
  }

  /**
   * Pending events-driver commands of the account that a stream resuming
   * after `afterId` is to get, in id order: those above it, and whatever its
   * id every one no stream has received yet. On PostgreSQL ids are not
   * handed out in commit order when several writers insert at once, so a
   * consumer that saw id 10 may not have seen 9; a command never written to
   * any stream cannot have been processed, whatever the Last-Event-ID says.
   */
  async pendingForStream(accountId: string, afterId: number): Promise<CommandRecord[]> {
    const rows = await this.engine.all<CommandRow>(
      sql`SELECT * FROM call_commands WHERE account_id = ${accountId} AND status = 'pending' AND driver = 'events' AND (id > ${afterId} OR delivered_at IS NULL) ORDER BY id`,
    );
    return rows.map(toCommand);
  }

  async pendingOfCall(accountId: string, callId: string, ex: Executor = this.engine): Promise<CommandRecord[]> {
    const rows = await ex.all<CommandRow>(sql`SELECT * FROM call_commands WHERE account_id = ${accountId} AND call_id = ${callId} AND status = 'pending' ORDER BY id`);
    return rows.map(toCommand);
  }

  async commandsOfCall(accountId: string, callId: string): Promise<CommandRecord[]> {
    const rows = await this.engine.all<CommandRow>(sql`SELECT * FROM call_commands WHERE account_id = ${accountId} AND call_id = ${callId} ORDER BY id`);
    return rows.map(toCommand);
  }

  /** Hang-ups sent without a final word by a process that stopped mid-way (all drivers but events, whose streams replay theirs). */
  async unsettledHangups(): Promise<CommandRecord[]> {
    const rows = await this.engine.all<CommandRow>(sql`SELECT c.* FROM call_commands c JOIN calls ON calls.account_id = c.account_id AND calls.call_id = c.call_id
      WHERE c.status = 'pending' AND c.driver <> 'events' AND c.kind = 'hangup' AND calls.state = 'ending' ORDER BY c.id`);
    return rows.map(toCommand);
  }

  /**
   * The highest command id ever issued (0 before the first), deleted ones
   * included: SQLite's AUTOINCREMENT counter, PostgreSQL's identity sequence.
   */
  async lastCommandId(): Promise<number> {
    const row = await this.engine.get<{ seq: number | null }>(
      dialect({
        sqlite: sql`SELECT max(seq) AS seq FROM sqlite_sequence WHERE name = 'call_commands'`,
        postgres: sql`SELECT pg_sequence_last_value(pg_get_serial_sequence('call_commands', 'id')::regclass) AS seq`,
      }),
    );
    return Number(row?.seq ?? 0);
  }

  /** A driver's word that the command reached the phone system (kept from the first time). */
  async markDelivered(id: number, now: number): Promise<void> {
    await this.engine.run(sql`UPDATE call_commands SET delivered_at = coalesce(delivered_at, ${now}) WHERE id = ${id}`);
  }

  /**
   * Marks a pending command delivered before a stream writes it; false when
   * it was settled or withdrawn meanwhile, and then it is not written. Marked
   * first, so a command that may be in the phone system's hands is never
   * withdrawn (withdrawal needs delivered_at unset): the two conditional
   * updates settle that race on both engines.
   */
  async claimDelivery(id: number, now: number): Promise<boolean> {
    return (await this.engine.run(sql`UPDATE call_commands SET delivered_at = coalesce(delivered_at, ${now}) WHERE id = ${id} AND status = 'pending'`)) === 1;
  }

  async countAttempt(id: number): Promise<void> {
    await this.engine.run(sql`UPDATE call_commands SET attempts = attempts + 1 WHERE id = ${id}`);
  }

  /** Records a final status and outcome; false if the command was no longer pending. */
  async settle(id: number, status: 'succeeded' | 'failed', outcome: TransferOutcome | null, reason: string | null, now: number, ex: Executor = this.engine): Promise<boolean> {
    return (await ex.run(sql`UPDATE call_commands SET status = ${status}, outcome = ${outcome}, reason = ${reason}, settled_at = ${now} WHERE id = ${id} AND status = 'pending'`)) === 1;
  }

  /** Withdraws a command no PBX has received yet; false if it was delivered or settled meanwhile. */
  async withdrawUndelivered(id: number, reason: string, now: number, ex: Executor = this.engine): Promise<boolean> {
    return (await ex.run(sql`UPDATE call_commands SET status = 'withdrawn', reason = ${reason}, settled_at = ${now} WHERE id = ${id} AND status = 'pending' AND delivered_at IS NULL`)) === 1;
  }

  async addEvent(accountId: string, callId: string, type: string, now: number, commandId: number | null = null, detail: Record<string, unknown> | null = null, ex: Executor = this.engine): Promise<void> {
    await ex.run(sql`INSERT INTO call_events (account_id, call_id, at, type, command_id, detail) VALUES (${accountId}, ${callId}, ${now}, ${type}, ${commandId}, ${detail ? JSON.stringify(detail) : null})`);
  }

  async eventsOfCall(accountId: string, callId: string): Promise<CallEvent[]> {
    const rows = await this.engine.all<EventRow>(sql`SELECT * FROM call_events WHERE account_id = ${accountId} AND call_id = ${callId} ORDER BY id`);
    return rows.map(toEvent);
  }
}
