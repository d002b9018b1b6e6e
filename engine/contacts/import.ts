/**
 * Imports a CSV or vCard file into the native contacts of an account. The
 * file is read as a whole first; every usable contact is then written in one
 * transaction, and every row or card that cannot be used is reported with
 * where it is and why, without losing the good ones.
 *
 * Each imported contact gets a stable source_id: the file's own id (an id
 * column, a vCard UID), or else a hash of its name and numbers. Importing the
 * same file again therefore updates what is there instead of duplicating it.
 */
import { createHash } from 'node:crypto';

import { SwitchboardError, isSwitchboardError } from '../errors.ts';
import { parseContactsCsv } from './csv-import.ts';
import { normalizeContact, type ContactInput, type NormalizedContact } from './input.ts';
import { NATIVE_SOURCE, type ContactStore } from './store.ts';
import { parseVCards } from './vcard.ts';

export type ImportFormat = 'csv' | 'vcard';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['csv', 'vcard'];

export interface ImportDraft {
  /** Where the contact is in the file: "line 4", "card 2 (line 17)". */
  where: string;
  /** The file's own id for the contact, if it has one. */
  sourceId: string | undefined;
  input: ContactInput;
}

export interface ImportProblem {
  where: string;
  message: string;
}

export interface ParsedFile {
  drafts: ImportDraft[];
  /** Rows or cards that were not imported. */
  problems: ImportProblem[];
  /** Facts about the file as a whole (ignored columns, stray lines). */
  notices: string[];
}

export interface ImportReport {
  format: ImportFormat;
  created: number;
  updated: number;
  unchanged: number;
  /** Rows or cards not imported, with the reason. */
  rejected: ImportProblem[];
  /** Imported contacts with a part left out (a number that could not be read). */
  warnings: ImportProblem[];
  notices: string[];
}

/** The format named by the file's extension, else by its first line. */
function detectFormat(fileName: string, text: string): ImportFormat {
  if (/\.(vcf|vcard)$/i.test(fileName)) return 'vcard';
  if (/\.(csv|tsv|txt)$/i.test(fileName)) return 'csv';
  return /^\uFEFF?\s*BEGIN:VCARD/i.test(text) ? 'vcard' : 'csv';
}

/** Stable id of a contact the file gives no id for. */
function contentId(contact: NormalizedContact): string {
  const numbers = contact.phones.map((phone) => phone.e164).sort();
  const digest = createHash('sha256').update(JSON.stringify([contact.name.toLowerCase(), numbers])).digest('base64url');
  return `hash:${digest.slice(0, 22)}`;
}

/**
 * Parses the file's text and imports every usable contact in one
 * transaction. A file that cannot be used at all (not text, no header, no
 * phone column) is a BAD_REQUEST; single bad rows end up in the report.
 */
export function importContacts(store: ContactStore, accountId: string, defaultCountry: string, fileName: string, text: string, format?: ImportFormat): ImportReport {
  if (text.includes('\u0000')) throw new SwitchboardError('BAD_REQUEST', `${fileName} is not a text file; export the contacts as CSV or vCard`);
  const chosen = format ?? detectFormat(fileName, text);
  const parsed = chosen === 'vcard' ? parseVCards(text) : parseContactsCsv(text);
  const report: ImportReport = { format: chosen, created: 0, updated: 0, unchanged: 0, rejected: [...parsed.problems], warnings: [], notices: parsed.notices };
  store.batch(() => {
    for (const draft of parsed.drafts) {
      try {
        const { contact, skipped } = normalizeContact(draft.input, defaultCountry);
        const { change } = store.upsertContact(accountId, NATIVE_SOURCE, draft.sourceId ?? contentId(contact), contact);
        report[change] += 1;
        for (const number of skipped) report.warnings.push({ where: draft.where, message: `left out "${number}": not a phone number that can be read` });
      } catch (error) {
        if (!isSwitchboardError(error)) throw error;
        report.rejected.push({ where: draft.where, message: error.message });
      }
    }
  });
  return report;
}
