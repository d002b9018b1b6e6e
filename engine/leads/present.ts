/**
 * How leads are shown outside the store: JSON for the admin API and
 * `leads list --json` (snake_case, ISO times), and CSV rows for the export of
 * cases. CSV cells that hold what a caller said (names, intents, notes) are
 * defused against spreadsheet formula injection.
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

function cell(value: string | null, freeText = false): string {
  if (value === null) return '';
  // A spreadsheet would run "=HYPERLINK(...)" a caller dictated; a leading apostrophe keeps it text.
  const text = freeText && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvRow(row: CaseExportRow): string {
  return `${[
    cell(row.id),
    cell(iso(row.createdAt)),
    cell(iso(row.updatedAt)),
    cell(row.callId),
    cell(row.personaId),
    cell(row.callerIdNumber, true),
    cell(row.leadId),
    cell(row.leadPhoneE164),
    cell(row.leadName, true),
    cell(row.name, true),
    cell(row.intent, true),
    cell(row.classification),
    cell(row.summary, true),
    cell(row.notes, true),
  ].join(',')}\r\n`;
}
