/**
 * Imports a CSV or vCard file into the native contacts of an account. The
 * file is read as a whole first; the usable contacts are then written in
 * chunks of a few hundred, one transaction each, and every row or card that
 * cannot be used is reported with where it is and why, without losing the
 * good ones.
 *
 * Chunks, not one transaction: SQLite has one writer at a time, and the
 * server shares the file. One transaction for 300,000 rows held the write
 * lock for seconds, and every create_lead of every call waited behind it.
 * Between two chunks the import pauses as long as the chunk took, so a
 * waiting writer (the server, in another process) gets the lock at least
 * half the time. The price: an import that fails part-way (a full disk, a
 * killed process) leaves the chunks before the failure in place. The error
 * says how far it got, and importing the same file again completes it, since
 * every row has a stable id (below) and what is there counts as unchanged.
 *
 * Each imported contact gets a stable source_id: the file's own id (an id
 * column, a vCard UID), or else a hash of its name and numbers. Importing the
 * same file again therefore updates what is there instead of duplicating it.
 */
import { createHash } from 'node:crypto';

import { SwitchboardError, isSwitchboardError } from '../errors.ts';
import { parseContactsCsv } from './csv-import.ts';
import { normalizeContact, type NormalizedContact } from './input.ts';
import type { ImportProblem } from './parsed-file.ts';
import { checkSourceKey, NATIVE_SOURCE, type ContactStore, type ContactWrite, type WriteOutcome } from './store.ts';
import { parseVCards } from './vcard.ts';

export type ImportFormat = 'csv' | 'vcard';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['csv', 'vcard'];

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

/** Rows per transaction: small enough that a waiting writer is not held up for long, large enough that commits are few. */
export const IMPORT_CHUNK_ROWS = 500;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Parses the file's text and imports every usable contact, a chunk per
 * transaction. A file that cannot be used at all (not text, no header, no
 * phone column) is a BAD_REQUEST before anything is written; single bad rows
 * end up in the report. The report counts only what was committed: when a
 * chunk fails, the error says where the import stopped and what was saved.
 */
export async function importContacts(store: ContactStore, accountId: string, defaultCountry: string, fileName: string, text: string, format?: ImportFormat): Promise<ImportReport> {
  if (text.includes('\u0000')) throw new SwitchboardError('BAD_REQUEST', `${fileName} is not a text file; export the contacts as CSV or vCard`);
  const chosen = format ?? detectFormat(fileName, text);
  const parsed = chosen === 'vcard' ? parseVCards(text) : parseContactsCsv(text);
  const report: ImportReport = { format: chosen, created: 0, updated: 0, unchanged: 0, rejected: [...parsed.problems], warnings: [], notices: parsed.notices };
  for (let start = 0; start < parsed.drafts.length; start += IMPORT_CHUNK_ROWS) {
    const chunk = parsed.drafts.slice(start, start + IMPORT_CHUNK_ROWS);
    const rejected: ImportProblem[] = [];
    const writes: ContactWrite[] = [];
    const skipped: { where: string; numbers: string[] }[] = [];
    for (const draft of chunk) {
      try {
        const { contact, skipped: numbers } = normalizeContact(draft.input, defaultCountry);
        const sourceId = draft.sourceId ?? contentId(contact);
        checkSourceKey(NATIVE_SOURCE, sourceId);
        writes.push({ kind: 'upsert', sourceId, contact });
        skipped.push({ where: draft.where, numbers });
      } catch (error) {
        if (!isSwitchboardError(error)) throw error;
        rejected.push({ where: draft.where, message: error.message });
      }
    }
    const began = performance.now();
    let outcomes: WriteOutcome[];
    try {
      outcomes = await store.transaction((tx) => store.write(tx, accountId, NATIVE_SOURCE, writes));
    } catch (error) {
      throw stopped(error, report, chunk[0]?.where ?? 'the start');
    }
    // Counted once committed: a chunk that fails adds nothing to the report.
    for (const outcome of outcomes) if (outcome.kind === 'upsert') report[outcome.change] += 1;
    report.rejected.push(...rejected);
    for (const { where, numbers } of skipped) for (const number of numbers) report.warnings.push({ where, message: `left out "${number}": not a phone number that can be read` });
    if (start + IMPORT_CHUNK_ROWS < parsed.drafts.length) await pause(Math.min(Math.max(performance.now() - began, 1), 100));
  }
  return report;
}

/** An import that failed part-way: where, why, and what is saved. */
function stopped(error: unknown, report: ImportReport, where: string): unknown {
  if (!isSwitchboardError(error)) return error;
  const saved = report.created + report.updated + report.unchanged;
  const progress = saved
    ? `the ${saved} contact${saved === 1 ? '' : 's'} before it ${saved === 1 ? 'is' : 'are'} saved (${report.created} new, ${report.updated} updated, ${report.unchanged} unchanged); importing the same file again adds the rest`
    : 'nothing was saved';
  return new SwitchboardError(error.code, `the import stopped at ${where}: ${error.message}; ${progress}`, { cause: error, details: { where, created: report.created, updated: report.updated, unchanged: report.unchanged } });
}
