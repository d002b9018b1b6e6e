/**
 * What a contacts file parser (csv-import.ts, vcard.ts) hands the import
 * (import.ts): the contacts it could read, each with where it is in the
 * file, and what it could not use. Parsers and the import both speak it, so
 * neither imports the other's module for it.
 */
import type { ContactInput } from './input.ts';

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
