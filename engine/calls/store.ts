/**
 * SQLite access for calls, their commands and their events. Plain reads and
 * single-row writes; the state changes that must happen together (a command
 * and the call's new state, an outcome and its event) are composed in
 * transactions by the CallControl service, which owns the rules.
 */
import { randomUUID } from 'node:crypto';

import type { Database } from '../store/database.ts';
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
}

/** Where a page of the call list ended. */
export interface CallListPosition {
  createdAt: number;
  callId: string;
}

export class CallStore {
  private readonly statements;

  constructor(db: Database) {
    this.statements = {
      call: db.prepare<[string, string], CallRow>('SELECT * FROM calls WHERE account_id = ? AND call_id = ?'),
      insertCall: db.prepare(
        `INSERT INTO calls (account_id, call_id, persona_id, caller, source, pbx_call_ref, state, created_at, updated_at)
         VALUES (@accountId, @callId, @personaId, @caller, @source, @pbxCallRef, 'active', @now, @now) ON CONFLICT DO NOTHING`,
      ),
      fillCall: db.prepare(
        `UPDATE calls SET persona_id = coalesce(persona_id, @personaId), caller = coalesce(caller, @caller),
           pbx_call_ref = coalesce(@pbxCallRef, pbx_call_ref), updated_at = @now
         WHERE account_id = @accountId AND call_id = @callId`,
      ),
      // The newest live call the phone system knows by this id: its own (pbx_call_ref) or our call_id.
      callByRef: db.prepare<[string, string, string, string], CallRow>(
        `SELECT * FROM calls WHERE account_id = ? AND (pbx_call_ref = ? OR (call_id = ? AND pbx_call_ref IS NULL)) AND state <> 'ended'
         ORDER BY (pbx_call_ref = ?) DESC, created_at DESC LIMIT 1`,
      ),
      listCalls: db.prepare<{ accountId: string; state: string | null; personaId: string | null; afterAt: number | null; afterId: string | null; limit: number }, CallRow>(
        `SELECT * FROM calls WHERE account_id = @accountId AND (@state IS NULL OR state = @state) AND (@personaId IS NULL OR persona_id = @personaId)
           AND (@afterAt IS NULL OR created_at < @afterAt OR (created_at = @afterAt AND call_id > @afterId))
         ORDER BY created_at DESC, call_id LIMIT @limit`,
      ),
      command: db.prepare<[number], CommandRow>('SELECT * FROM call_commands WHERE id = ?'),
      insertCommand: db.prepare(
        `INSERT INTO call_commands (account_id, call_id, persona_id, kind, destination, destination_type, target, driver, idempotency_key, status, ring_timeout_ms, created_at)
         VALUES (@accountId, @callId, @personaId, @kind, @destination, @destinationType, @target, @driver, @idempotencyKey, 'pending', @ringTimeoutMs, @now)`,
      ),
      lastCommandId: db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM sqlite_sequence WHERE name = 'call_commands'"),
      pendingAfter: db.prepare<[string, number], CommandRow>("SELECT * FROM call_commands WHERE account_id = ? AND status = 'pending' AND id > ? AND driver = 'events' ORDER BY id"),
      pendingOfCall: db.prepare<[string, string], CommandRow>("SELECT * FROM call_commands WHERE account_id = ? AND call_id = ? AND status = 'pending' ORDER BY id"),
      commandsOfCall: db.prepare<[string, string], CommandRow>('SELECT * FROM call_commands WHERE account_id = ? AND call_id = ? ORDER BY id'),
      // Hang-ups a stopped process sent without a final word; the events driver's are replayed by its streams instead.
      unsettledHangups: db.prepare<[], CommandRow>(
        `SELECT c.* FROM call_commands c JOIN calls USING (account_id, call_id)
         WHERE c.status = 'pending' AND c.driver <> 'events' AND c.kind = 'hangup' AND calls.state = 'ending' ORDER BY c.id`,
      ),
      delivered: db.prepare('UPDATE call_commands SET delivered_at = coalesce(delivered_at, ?) WHERE id = ?'),
      attempt: db.prepare('UPDATE call_commands SET attempts = attempts + 1 WHERE id = ?'),
      settle: db.prepare("UPDATE call_commands SET status = ?, outcome = ?, reason = ?, settled_at = ? WHERE id = ? AND status = 'pending'"),
      withdrawUndelivered: db.prepare("UPDATE call_commands SET status = 'withdrawn', reason = ?, settled_at = ? WHERE id = ? AND status = 'pending' AND delivered_at IS NULL"),
      setState: db.prepare(
        `UPDATE calls SET state = @to, updated_at = @now,
           transferred_to = coalesce(@transferredTo, transferred_to), end_reason = coalesce(@endReason, end_reason),
           ended_at = CASE WHEN @to = 'ended' THEN coalesce(ended_at, @now) ELSE ended_at END,
           hangup_at = @hangupAt
         WHERE account_id = @accountId AND call_id = @callId AND state IN (SELECT value FROM json_each(@from))`,
      ),
      takeHangup: db.prepare('UPDATE calls SET hangup_at = NULL, updated_at = ? WHERE account_id = ? AND call_id = ? AND hangup_at IS NOT NULL'),
      dueHangups: db.prepare<[number], CallRow>("SELECT * FROM calls WHERE hangup_at IS NOT NULL AND hangup_at <= ? AND state = 'ending' ORDER BY hangup_at"),
      nextHangup: db.prepare<[], { next: number | null }>('SELECT min(hangup_at) AS next FROM calls WHERE hangup_at IS NOT NULL'),
      insertEvent: db.prepare('INSERT INTO call_events (account_id, call_id, at, type, command_id, detail) VALUES (?, ?, ?, ?, ?, ?)'),
      eventsOfCall: db.prepare<[string, string], EventRow>('SELECT * FROM call_events WHERE account_id = ? AND call_id = ? ORDER BY id'),
    };
  }

  call(accountId: string, callId: string): CallRecord | undefined {
    const row = this.statements.call.get(accountId, callId);
    return row ? toCall(row) : undefined;
  }

  /** Creates the call unless it exists (then fills in what it lacked); tells which happened. */
  ensureCall(call: NewCall, now: number): { call: CallRecord; created: boolean } {
    const pbxCallRef = call.pbxCallRef ?? null;
    const created = this.statements.insertCall.run({ ...call, pbxCallRef, now }).changes === 1;
    if (!created && (call.personaId || call.caller || pbxCallRef)) {
      this.statements.fillCall.run({ accountId: call.accountId, callId: call.callId, personaId: call.personaId, caller: call.caller, pbxCallRef, now });
    }
    return { call: this.call(call.accountId, call.callId) as CallRecord, created };
  }

  /** The live call the phone system calls `ref`. */
  callByRef(accountId: string, ref: string): CallRecord | undefined {
    const row = this.statements.callByRef.get(accountId, ref, ref, ref);
    return row ? toCall(row) : undefined;
  }

  /** Newest first; `after` is the last call of the previous page. */
  listCalls(accountId: string, filter: { state?: CallState | undefined; personaId?: string | undefined; after?: CallListPosition | undefined; limit: number }): CallRecord[] {
    return this.statements.listCalls
      .all({ accountId, state: filter.state ?? null, personaId: filter.personaId ?? null, afterAt: filter.after?.createdAt ?? null, afterId: filter.after?.callId ?? null, limit: filter.limit })
      .map(toCall);
  }

  /**
   * Moves the call to `to` if its state is one of `from`; false if it was not
   * (another request changed it first). Clears a scheduled hang-up unless one is given.
   */
  setState(
    accountId: string,
    callId: string,
    from: readonly CallState[],
    to: CallState,
    now: number,
    extra: { transferredTo?: string; endReason?: string; hangupAt?: number } = {},
  ): boolean {
    return (
      this.statements.setState.run({
        accountId,
        callId,
        from: JSON.stringify(from),
        to,
        now,
        transferredTo: extra.transferredTo ?? null,
        endReason: extra.endReason ?? null,
        hangupAt: extra.hangupAt ?? null,
      }).changes === 1
    );
  }

  /** Claims a due hang-up for sending; false if another tick or an end of the call took it first. */
  takeHangup(accountId: string, callId: string, now: number): boolean {
    return this.statements.takeHangup.run(now, accountId, callId).changes === 1;
  }

  dueHangups(now: number): CallRecord[] {
    return this.statements.dueHangups.all(now).map(toCall);
  }

  nextHangupAt(): number | null {
    return this.statements.nextHangup.get()?.next ?? null;
  }

  insertCommand(command: NewCommand, now: number): CommandRecord {
    const { lastInsertRowid } = this.statements.insertCommand.run({
      ...command,
      destination: command.destination ?? null,
      destinationType: command.destinationType ?? null,
      target: command.target ? JSON.stringify(command.target) : null,
      ringTimeoutMs: command.ringTimeoutMs ?? null,
      idempotencyKey: randomUUID(),
      now,
    });
    return this.command(Number(lastInsertRowid)) as CommandRecord;
  }

  command(id: number): CommandRecord | undefined {
    const row = this.statements.command.get(id);
    return row ? toCommand(row) : undefined;
  }

  /** Pending events-driver commands of the account after an SSE event id, in order. */
  pendingAfter(accountId: string, afterId: number): CommandRecord[] {
    return this.statements.pendingAfter.all(accountId, afterId).map(toCommand);
  }

  pendingOfCall(accountId: string, callId: string): CommandRecord[] {
    return this.statements.pendingOfCall.all(accountId, callId).map(toCommand);
  }

  commandsOfCall(accountId: string, callId: string): CommandRecord[] {
    return this.statements.commandsOfCall.all(accountId, callId).map(toCommand);
  }

  /** Hang-ups sent without a final word by a process that stopped mid-way (all drivers but events). */
  unsettledHangups(): CommandRecord[] {
    return this.statements.unsettledHangups.all().map(toCommand);
  }

  /** The highest command id ever issued (0 before the first). */
  lastCommandId(): number {
    return this.statements.lastCommandId.get()?.seq ?? 0;
  }

  markDelivered(id: number, now: number): void {
    this.statements.delivered.run(now, id);
  }

  countAttempt(id: number): void {
    this.statements.attempt.run(id);
  }

  /** Records a final status and outcome; false if the command was no longer pending. */
  settle(id: number, status: 'succeeded' | 'failed', outcome: TransferOutcome | null, reason: string | null, now: number): boolean {
    return this.statements.settle.run(status, outcome, reason, now, id).changes === 1;
  }

  /** Withdraws a command no PBX has received yet; false if it was delivered or settled meanwhile. */
  withdrawUndelivered(id: number, reason: string, now: number): boolean {
    return this.statements.withdrawUndelivered.run(reason, now, id).changes === 1;
  }

  addEvent(accountId: string, callId: string, type: string, now: number, commandId: number | null = null, detail: Record<string, unknown> | null = null): void {
    this.statements.insertEvent.run(accountId, callId, now, type, commandId, detail ? JSON.stringify(detail) : null);
  }

  eventsOfCall(accountId: string, callId: string): CallEvent[] {
    return this.statements.eventsOfCall.all(accountId, callId).map(toEvent);
  }
}
