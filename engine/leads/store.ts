/**
 * Leads and cases in SQLite. A lead is a person who called (one per caller
 * number and account); a case is what one call was about. `record` is the
 * whole of create_lead's write: it runs in one IMMEDIATE transaction, so two
 * calls from the same number at the same moment (even from two processes)
 * make one lead, and a retry within the same call updates that call's case
 * instead of adding a second one. The transaction has committed when
 * `record` returns, so whatever the tool acknowledges is on disk.
 */
import { randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import { GroupCommit } from '../store/group-commit.ts';

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

export class LeadStore {
  private readonly caseOfCall;
  private readonly updateCase;
  private readonly touchLead;
  private readonly upsertLead;
  private readonly insertCase;
  private readonly page;
  private readonly casesOfLeads;
  private readonly exportRows;
  private readonly recordTx;

  constructor(
    db: Database,
    private readonly clock: Clock,
    private readonly commits: GroupCommit = new GroupCommit(db),
  ) {
    this.caseOfCall = db.prepare<[string, string], { id: string; lead_id: string; intent: string }>('SELECT id, lead_id, intent FROM lead_cases WHERE account_id = ? AND call_id = ?');
    this.updateCase = db.prepare(
      `UPDATE lead_cases SET name = @name, intent = @intent, classification = COALESCE(@classification, classification),
         summary = COALESCE(@summary, summary), notes = COALESCE(@notes, notes), updated_at = @now WHERE id = @id`,
    );
    this.touchLead = db.prepare<{ id: string; name: string; classification: string | null; now: number }, { phone_e164: string | null; created_call_id: string }>(
      `UPDATE leads SET name = @name, classification = COALESCE(@classification, classification), updated_at = @now
       WHERE id = @id RETURNING phone_e164, created_call_id`,
    );
    // The partial unique index turns a second lead for the same number into an update of the
    // first; a lead without a number (NULL) never conflicts, so it is always a new one.
    this.upsertLead = db.prepare<Record<string, unknown>, { id: string }>(
      `INSERT INTO leads (id, account_id, phone_e164, name, classification, created_call_id, created_at, updated_at)
       VALUES (@id, @account, @phone, @name, @classification, @call, @now, @now)
       ON CONFLICT (account_id, phone_e164) WHERE phone_e164 IS NOT NULL DO UPDATE SET
         name = excluded.name, classification = COALESCE(excluded.classification, leads.classification), updated_at = excluded.updated_at
       RETURNING id`,
    );
    this.insertCase = db.prepare(
      `INSERT INTO lead_cases (id, lead_id, account_id, persona_id, call_id, caller_id_number, name, intent, classification, summary, notes, created_at, updated_at)
       VALUES (@id, @lead, @account, @persona, @call, @caller, @name, @intent, @classification, @summary, @notes, @now, @now)`,
    );
    this.page = db.prepare<[string, number, number], LeadRow>(
      'SELECT seq, id, phone_e164, name, classification, created_at, updated_at FROM leads WHERE account_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
    );
    this.casesOfLeads = db.prepare<[string, string], CaseRow>(
      `SELECT * FROM lead_cases WHERE account_id = ? AND lead_id IN (SELECT value FROM json_each(?)) ORDER BY seq`,
    );
    this.exportRows = db.prepare<[string, number, number], CaseRow & { seq: number; lead_phone_e164: string | null; lead_name: string }>(
      `SELECT c.*, l.phone_e164 AS lead_phone_e164, l.name AS lead_name
       FROM lead_cases c JOIN leads l ON l.id = c.lead_id WHERE c.account_id = ? AND c.seq > ? ORDER BY c.seq LIMIT ?`,
    );
    this.recordTx = db.transaction((input: CaseInput): RecordedCase => this.recordInTransaction(input));
  }

  /** Records what create_lead was told in this call; committed when it returns. */
  record(input: CaseInput): RecordedCase {
    return this.recordTx.immediate(input);
  }

  /** `record` in the next group commit (engine/store/group-commit.ts): resolves once it is on disk. */
  recordCommitted(input: CaseInput): Promise<RecordedCase> {
    return this.commits.run(() => this.record(input));
  }

  private recordInTransaction(input: CaseInput): RecordedCase {
    const now = this.clock.now();
    const fields = {
      name: input.name,
      intent: input.intent,
      classification: input.classification ?? null,
      summary: input.summary ?? null,
      notes: input.notes ?? null,
      now,
    };
    const earlier = this.caseOfCall.get(input.accountId, input.callId);
    if (earlier) {
      this.updateCase.run({ ...fields, id: earlier.id });
      const lead = this.touchLead.get({ id: earlier.lead_id, name: fields.name, classification: fields.classification, now })!;
      return {
        leadId: earlier.lead_id,
        caseId: earlier.id,
        leadStatus: lead.created_call_id === input.callId ? 'new' : 'existing',
        caseStatus: 'updated',
        phoneE164: lead.phone_e164,
        previousIntent: earlier.intent,
      };
    }

    const candidateId = `ld_${randomBytes(6).toString('hex')}`;
    const leadId = this.upsertLead.get({
      id: candidateId,
      account: input.accountId,
      phone: input.phoneE164 ?? null,
      name: fields.name,
      classification: fields.classification,
      call: input.callId,
      now,
    })!.id;

    const caseId = `cs_${randomBytes(6).toString('hex')}`;
    this.insertCase.run({ ...fields, id: caseId, lead: leadId, account: input.accountId, persona: input.personaId, call: input.callId, caller: input.callerIdNumber ?? null });
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
  list(accountId: string, options: { limit: number; cursor?: string | undefined }): LeadPage {
    const before = options.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(options.cursor);
    if (before === undefined) throw new SwitchboardError('BAD_REQUEST', 'cursor is not valid: pass the next_cursor of the previous page');
    const rows = this.page.all(accountId, before, options.limit + 1);
    const more = rows.length > options.limit;
    const shown = more ? rows.slice(0, options.limit) : rows;
    const cases = new Map<string, LeadCase[]>(shown.map((row) => [row.id, []]));
    if (shown.length) {
      for (const row of this.casesOfLeads.all(accountId, JSON.stringify(shown.map((lead) => lead.id)))) cases.get(row.lead_id)?.push(toCase(row));
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
   * never blocks the connection that tool calls write through.
   */
  *exportCases(accountId: string, pageSize = 500): Generator<CaseExportRow[]> {
    let after = 0;
    for (;;) {
      const rows = this.exportRows.all(accountId, after, pageSize);
      if (!rows.length) return;
      yield rows.map((row) => ({ ...toCase(row), leadId: row.lead_id, leadPhoneE164: row.lead_phone_e164, leadName: row.lead_name }));
      after = rows[rows.length - 1]!.seq;
    }
  }
}
