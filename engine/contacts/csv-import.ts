/**
 * Reads contacts from a CSV file with a header row, as address books and
 * spreadsheets export them (Google, Outlook, a hand-made sheet). Columns are
 * recognised by their header, in any case and with any punctuation:
 *
 *   id          id, contact id, external id, uid, uuid
 *   name        name, full name, display name, contact name
 *               or first name / given name + middle name + last name / family name / surname
 *   company     company, company name, organization, organisation, org, organization name,
 *               organization 1 name
 *   numbers     any header with phone, phones, tel, telephone, mobile, cell,
 *               fax or pager in it (mobile phone, business phone 2, ...), and the bare words
 *               work, home, office, main, other; the header gives the label (mobile, work,
 *               home, fax, pager, main, other). Google's "Phone 1 - Value" takes its label
 *               from "Phone 1 - Type". A cell may hold several numbers separated by ";", "|",
 *               a line break or " ::: ".
 *
 * Other columns are ignored (and named in the report). The delimiter is the
 * one of ",", ";" and tab that the header uses most. A row without a name
 * takes its company as the name. Blank rows (no cell with text) are skipped.
 */
import { parse } from 'csv-parse/sync';

import { SwitchboardError } from '../errors.ts';
import { phoneLabel, type PhoneInput } from './input.ts';
import type { ParsedFile } from './parsed-file.ts';

type Role =
  | { kind: 'id' | 'name' | 'first' | 'middle' | 'last' | 'company' }
  | { kind: 'phone'; label: string | null }
  /** Google's numbered pairs: the value column, labelled by the type column of the same number. */
  | { kind: 'phoneValue'; index: string }
  | { kind: 'phoneType'; index: string };

const ROLE_BY_HEADER: Record<string, Role['kind']> = {
  id: 'id',
  'contact id': 'id',
  'external id': 'id',
  uid: 'id',
  uuid: 'id',
  name: 'name',
  'full name': 'name',
  'display name': 'name',
  'contact name': 'name',
  'first name': 'first',
  firstname: 'first',
  'given name': 'first',
  'middle name': 'middle',
  'additional name': 'middle',
  'last name': 'last',
  lastname: 'last',
  'family name': 'last',
  surname: 'last',
  company: 'company',
  'company name': 'company',
  organization: 'company',
  organisation: 'company',
  org: 'company',
  'organization name': 'company',
  'organization 1 name': 'company',
};

const PHONE_WORDS = /\b(phones?|tel|telephone|mobile|cell|cellular|fax|pager)\b/;
const BARE_PHONE_HEADERS = new Set(['work', 'home', 'office', 'main', 'other']);

const normalizeHeader = (header: string): string =>
  header
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();

function roleOf(header: string): Role | undefined {
  const words = normalizeHeader(header);
  const known = ROLE_BY_HEADER[words];
  if (known) return { kind: known } as Role;
  const google = /^phone (\d+) (value|type)$/.exec(words);
  if (google) return { kind: google[2] === 'value' ? 'phoneValue' : 'phoneType', index: google[1]! };
  if (/\b(type|label|ext|extension)\b/.test(words)) return undefined;
  if (PHONE_WORDS.test(words) || BARE_PHONE_HEADERS.has(words)) return { kind: 'phone', label: phoneLabel(words) };
  return undefined;
}

/** The delimiter the header line uses most (outside quotes). */
function detectDelimiter(text: string): string {
  const counts = new Map([
    [',', 0],
    [';', 0],
    ['\t', 0],
  ]);
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) break;
    else if (!quoted && counts.has(char)) counts.set(char, counts.get(char)! + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]![0];
}

const splitNumbers = (cell: string): string[] =>
  cell
    .split(/\s*(?:;|\||\r?\n| ::: )\s*/)
    .map((part) => part.trim())
    .filter(Boolean);

interface CsvRecord {
  record: string[];
  info: { lines: number };
  raw: string;
}

export function parseContactsCsv(text: string): ParsedFile {
  const result: ParsedFile = { drafts: [], problems: [], notices: [] };
  const records = parse(text, {
    delimiter: detectDelimiter(text.replace(/^\uFEFF/, '')),
    bom: true,
    info: true,
    raw: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (error) => {
      const reason = error?.message.replace(/ at line \d+.*$/s, '') ?? 'malformed CSV';
      result.problems.push({ where: `line ${error?.lines ?? '?'}`, message: `could not be read as CSV (${reason}); check the quotes on this line and the lines before it` });
      return undefined;
    },
  }) as unknown as CsvRecord[];
  const [header, ...rows] = records;
  if (!header) throw new SwitchboardError('BAD_REQUEST', 'the CSV file is empty: it needs a header row (e.g. name,company,phone) and a row per contact');

  const roles = header.record.map(roleOf);
  const found = header.record.join(', ').slice(0, 200);
  const has = (kind: Role['kind']) => roles.some((role) => role?.kind === kind);
  if (!has('name') && !has('first') && !has('last') && !has('company')) {
    throw new SwitchboardError('BAD_REQUEST', `the CSV header has no name column; use name, or first name and last name (found: ${found})`);
  }
  if (!has('phone') && !has('phoneValue')) {
    throw new SwitchboardError('BAD_REQUEST', `the CSV header has no phone number column; use phone, mobile, work phone, ... (found: ${found})`);
  }
  const ignored = header.record.filter((_, index) => !roles[index]).filter(Boolean);
  if (ignored.length) result.notices.push(`ignored columns: ${ignored.join(', ')}`);

  for (const { record, info, raw } of rows) {
    // Spreadsheets export an empty row as ",,,," (or spaces): it says nothing, so it is no error either.
    if (record.every((value) => !value.trim())) continue;
    const line = info.lines - (raw.replace(/\r?\n$/, '').match(/\n/g)?.length ?? 0);
    const fields: Partial<Record<Role['kind'], string>> = {};
    const types = new Map<string, string>();
    const phones: PhoneInput[] = [];
    record.forEach((value, index) => {
      const role = roles[index];
      if (!role || !value.trim()) return;
      if (role.kind === 'phoneType') types.set(role.index, value);
      else if (role.kind !== 'phone' && role.kind !== 'phoneValue') fields[role.kind] ??= value.trim();
    });
    record.forEach((value, index) => {
      const role = roles[index];
      if (role?.kind === 'phone') for (const number of splitNumbers(value)) phones.push({ number, label: role.label });
      if (role?.kind === 'phoneValue') for (const number of splitNumbers(value)) phones.push({ number, label: phoneLabel(types.get(role.index) ?? '') });
    });
    const name = fields.name ?? ([fields.first, fields.middle, fields.last].filter(Boolean).join(' ') || fields.company || '');
    result.drafts.push({ where: `line ${line}`, sourceId: fields.id, input: { name, company: fields.company ?? null, phones } });
  }
  return result;
}
