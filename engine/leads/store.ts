/**
 * Leads and cases on the store engine (SQLite or PostgreSQL). A lead is a
 * person who called (one per caller number and account); a case is what one
 * call was about. `record` is the whole of create_lead's write, one durable
 * transaction: it has committed when `record` resolves, so whatever the tool
 * acknowledges is stored. Concurrent calls each get a transaction of their
 * own (the SQLite engine commits them together, PostgreSQL on its own); one
 * that fails rolls back alone.
 *
 * Races are settled by the unique indexes, the same way on both engines and
 * across nodes: two calls from the same number at once make one lead (the
 * second insert becomes an update of the first, ON CONFLICT), and a retry
 * within the same call racing the first create_lead of that call finds the
 * case taken (ON CONFLICT DO NOTHING changes no row); its transaction is then
 * rolled back whole (no lead of its own is left behind) and run again, and
 * this time it reads the committed case and updates it.
 */
import { randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import { forUpdate, list, sql } from '../store/sql.ts';

export const CLASSIFICATIONS = ['lead', 'customer', 'spam', 'other'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

export interface CaseInput {
  accountId: string;
  personaId: string;
  callId: string;
  /** The caller_id_number header as given (kept on the case, even when it is not a number). */
  callerIdNumber: string | undefined;
  /** The caller's number in E.164; without it the lead is not matched to earlier ones. */
  phoneE164: string | undefined;
  name: string;
  intent: string;
  classification?: Classification | undefined;
  summary?: string | undefined;
  notes?: string | undefined;
}

export interface RecordedCase {
  leadId: string;
  caseId: string;
  /** new: this call created the lead; existing: the number already had one. */
  leadStatus: 'new' | 'existing';
  /** created: first create_lead of this call; updated: a retry within the same call. */
  caseStatus: 'created' | 'updated';
  phoneE164: string | null;
  /** On an update, the intent the case had before it (which the new one replaced); null on a new case. */
  previousIntent: string | null;
}

export interface LeadCase {
  id: string;
  personaId: string;
  callId: string;
  callerIdNumber: string | null;
  name: string;
  intent: string;
  classification: Classification | null;
  summary: string | null;
  notes: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Lead {
  id: string;
  phoneE164: string | null;
  name: string;
  classification: Classification | null;
  createdAt: number;
  updatedAt: number;
  cases: LeadCase[];
}

export interface LeadPage {
  leads: Lead[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** A case with its lead, one row of the CSV export. */
export interface CaseExportRow extends LeadCase {
  leadId: string;
  leadPhoneE164: string | null;
  leadName: string;
}

interface LeadRow {
  seq: number;
  id: string;
  phone_e164: string | null;
  name: string;
  classification: Classification | null;
  created_at: number;
  updated_at: number;
}

interface CaseRow {
  id: string;
  lead_id: string;
  persona_id: string;
  call_id: string;
  caller_id_number: string | null;
  name: string;
  intent: string;
  classification: Classification | null;
  summary: string | null;
  notes: string | null;
  created_at: number;
  updated_at: number;
}

const toCase = (row: CaseRow): LeadCase => ({
  id: row.id,
  personaId: row.persona_id,
  callId: row.call_id,
  callerIdNumber: row.caller_id_number,
  name: row.name,
  intent: row.intent,
  classification: row.classification,
  summary: row.summary,
  notes: row.notes,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Cursors are opaque to clients; inside they are the last lead's seq. */
const encodeCursor = (seq: number): string => Buffer.from(`l${seq}`).toString('base64url');
function decodeCursor(cursor: string): number | undefined {
  const match = /^l(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

/** The case of this call was committed by a concurrent create_lead while this one ran: run again. */
class CaseTaken extends Error {}

/** How often `record` runs again after a race on the call's case; the second run finds the committed case. */
const RECORD_ATTEMPTS = 3;

export class LeadStore {
  constructor(
    private readonly store: StoreEngine,
    private readonly clock: Clock,
  ) {}

  /** Records what create_lead was told in this call; resolves once it is committed. */
  async record(input: CaseInput): Promise<RecordedCase> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.store.transaction((tx) => this.recordIn(tx, input));
      } catch (error) {
        if (!(error instanceof CaseTaken) || attempt >= RECORD_ATTEMPTS) throw error;
      }
    }
  }

  private async recordIn(tx: Executor, input: CaseInput): Promise<RecordedCase> {
    const now = this.clock.now();
    const fields = {
      name: input.name,
      intent: input.intent,
      classification: input.classification ?? null,
      summary: input.summary ?? null,
      notes: input.notes ?? null,
    };
    // Locked until the commit (PostgreSQL), so two retries of one call update the case one after the other.
    const earlier = await tx.get<{ id: string; lead_id: string; intent: string }>(
      sql`SELECT id, lead_id, intent FROM lead_cases WHERE account_id = ${input.accountId} AND call_id = ${input.callId}${forUpdate}`,
    );
    if (earlier) {
      await tx.run(
        sql`UPDATE lead_cases SET name = ${fields.name}, intent = ${fields.intent}, classification = coalesce(${fields.classification}, classification),
              summary = coalesce(${fields.summary}, summary), notes = coalesce(${fields.notes}, notes), updated_at = ${now}
            WHERE id = ${earlier.id}`,
      );
      const lead = (await tx.get<{ phone_e164: string | null; created_call_id: string }>(
        sql`UPDATE leads SET name = ${fields.name}, classification = coalesce(${fields.classification}, classification), updated_at = ${now}
            WHERE id = ${earlier.lead_id} RETURNING phone_e164, created_call_id`,
      ))!;
      return {
        leadId: earlier.lead_id,
        caseId: earlier.id,
        leadStatus: lead.created_call_id === input.callId ? 'new' : 'existing',
        caseStatus: 'updated',
        phoneE164: lead.phone_e164,
        previousIntent: earlier.intent,
      };
    }

    // The partial unique index turns a second lead for the same number into an update of the
    // first; a lead without a number (NULL) never conflicts, so it is always a new one.
    const candidateId = `ld_${randomBytes(6).toString('hex')}`;
    const leadId = (await tx.get<{ id: string }>(
      sql`INSERT INTO leads (id, account_id, phone_e164, name, classification, created_call_id, created_at, updated_at)
          VALUES (${candidateId}, ${input.accountId}, ${input.phoneE164 ?? null}, ${fields.name}, ${fields.classification}, ${input.callId}, ${now}, ${now})
          ON CONFLICT (account_id, phone_e164) WHERE phone_e164 IS NOT NULL DO UPDATE SET
            name = excluded.name, classification = coalesce(excluded.classification, leads.classification), updated_at = excluded.updated_at
          RETURNING id`,
    ))!.id;

    const caseId = `cs_${randomBytes(6).toString('hex')}`;
    const inserted = await tx.run(
      sql`INSERT INTO lead_cases (id, lead_id, account_id, persona_id, call_id, caller_id_number, name, intent, classification, summary, notes, created_at, updated_at)
          VALUES (${caseId}, ${leadId}, ${input.accountId}, ${input.personaId}, ${input.callId}, ${input.callerIdNumber ?? null}, ${fields.name}, ${fields.intent},
            ${fields.classification}, ${fields.summary}, ${fields.notes}, ${now}, ${now})
          ON CONFLICT (account_id, call_id) DO NOTHING`,
    );
    if (inserted === 0) throw new CaseTaken();
    return {
      leadId,
      caseId,
      leadStatus: leadId === candidateId ? 'new' : 'existing',
      caseStatus: 'created',
      phoneE164: input.phoneE164 ?? null,
      previousIntent: null,
    };
  }

  /** Newest leads first, each with its cases (oldest case first). */
  async list(accountId: string, options: { limit: number; cursor?: string | undefined }): Promise<LeadPage> {
    const before = options.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(options.cursor);
    if (before === undefined) throw new SwitchboardError('BAD_REQUEST', 'cursor is not valid: pass the next_cursor of the previous page');
    const rows = await this.store.all<LeadRow>(
      sql`SELECT seq, id, phone_e164, name, classification, created_at, updated_at FROM leads
          WHERE account_id = ${accountId} AND seq < ${before} ORDER BY seq DESC LIMIT ${options.limit + 1}`,
    );
    const more = rows.length > options.limit;
    const shown = more ? rows.slice(0, options.limit) : rows;
    const cases = new Map<string, LeadCase[]>(shown.map((row) => [row.id, []]));
    if (shown.length) {
      const caseRows = await this.store.all<CaseRow>(
        sql`SELECT * FROM lead_cases WHERE account_id = ${accountId} AND lead_id IN ${list(shown.map((lead) => lead.id))} ORDER BY seq`,
      );
      for (const row of caseRows) cases.get(row.lead_id)?.push(toCase(row));
    }
    return {
      leads: shown.map((row) => ({
        id: row.id,
        phoneE164: row.phone_e164,
        name: row.name,
        classification: row.classification,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        cases: cases.get(row.id) ?? [],
      })),
      nextCursor: more ? encodeCursor(shown[shown.length - 1]!.seq) : null,
    };
  }

  /**
   * Every case of the account with its lead, oldest first, read a page at a
   * time. No statement stays open between pages, so a slow reader of an export
   * holds no connection and no lock while it waits.
   */
  async *exportCases(accountId: string, pageSize = 500): AsyncGenerator<CaseExportRow[]> {
    let after = 0;
    for (;;) {
      const rows = await this.store.all<CaseRow & { seq: number; lead_phone_e164: string | null; lead_name: string }>(
        sql`SELECT c.*, l.phone_e164 AS lead_phone_e164, l.name AS lead_name
            FROM lead_cases c JOIN leads l ON l.id = c.lead_id WHERE c.account_id = ${accountId} AND c.seq > ${after} ORDER BY c.seq LIMIT ${pageSize}`,
      );
      if (!rows.length) return;
      yield rows.map((row) => ({ ...toCase(row), leadId: row.lead_id, leadPhoneE164: row.lead_phone_e164, leadName: row.lead_name }));
      after = rows[rows.length - 1]!.seq;
    }
  }
}
