/**
 * How leads are shown outside the store: JSON for the admin API and
 * `leads list --json` (snake_case, ISO times), and CSV rows for the export of
 * cases.
 *
 * Every CSV cell is defused against spreadsheet formula injection, not only
 * those that hold what a caller said: call ids, persona ids and caller
 * numbers come from request headers, which anyone with a key sets. A number
 * (+12125550100, -3.5) is left as it is: a quote in front would break CRM
 * imports of the phone numbers, and a number is not a formula.
 */
import type { CaseExportRow, Lead, LeadCase } from './store.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

const caseJson = (item: LeadCase) => ({
  id: item.id,
  call_id: item.callId,
  persona_id: item.personaId,
  caller_id_number: item.callerIdNumber,
  name: item.name,
  intent: item.intent,
  classification: item.classification,
  summary: item.summary,
  notes: item.notes,
  created_at: iso(item.createdAt),
  updated_at: iso(item.updatedAt),
});

export const leadJson = (lead: Lead) => ({
  id: lead.id,
  phone_number: lead.phoneE164,
  name: lead.name,
  classification: lead.classification,
  created_at: iso(lead.createdAt),
  updated_at: iso(lead.updatedAt),
  cases: lead.cases.map(caseJson),
});

const CSV_COLUMNS = [
  'case_id',
  'case_created_at',
  'case_updated_at',
  'call_id',
  'persona_id',
  'caller_id_number',
  'lead_id',
  'lead_phone_number',
  'lead_name',
  'name',
  'intent',
  'classification',
  'summary',
  'notes',
] as const;

/** What a spreadsheet reads as the start of a formula (or of a DDE call), after any leading blanks; full-width forms included. */
const FORMULA_START = /^[\s\u0000-\u001f]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r\n]/; // eslint-disable-line no-control-regex -- control characters before a formula count
/** A plain number: signed digits, an optional fraction. */
const NUMBER = /^[+-]?\d+(?:\.\d+)?$/;

/** One CSV cell: formulas defused with a leading apostrophe (a spreadsheet keeps the text), then quoted as RFC 4180 asks. */
export function csvCell(value: string | null): string {
  if (value === null) return '';
  const text = FORMULA_START.test(value) && !NUMBER.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvRow(row: CaseExportRow): string {
  return `${[
    csvCell(row.id),
    csvCell(iso(row.createdAt)),
    csvCell(iso(row.updatedAt)),
    csvCell(row.callId),
    csvCell(row.personaId),
    csvCell(row.callerIdNumber),
    csvCell(row.leadId),
    csvCell(row.leadPhoneE164),
    csvCell(row.leadName),
    csvCell(row.name),
    csvCell(row.intent),
    csvCell(row.classification),
    csvCell(row.summary),
    csvCell(row.notes),
  ].join(',')}\r\n`;
}
