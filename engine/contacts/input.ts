/**
 * A contact as people and files write it, checked and normalized before it
 * enters the index: bounded text, numbers in E.164 (read with the account's
 * default country), duplicates dropped. The admin API, the importers and the
 * syncs of external books all go through `normalizeContact`, so every entry
 * in the index is findable the same way.
 */
import { SwitchboardError } from '../errors.ts';
import { toE164 } from '../phone.ts';
import { cleanText } from '../plain-text.ts';

export const CONTACT_LIMITS = { name: 200, company: 200, label: 40, number: 64, phones: 20, sourceId: 200 } as const;

export interface PhoneInput {
  number: string;
  label?: string | null | undefined;
}

export interface ContactInput {
  name: string;
  company?: string | null | undefined;
  phones: PhoneInput[];
}

export interface ContactPhone {
  e164: string;
  label: string | null;
}

export interface NormalizedContact {
  name: string;
  company: string | null;
  phones: ContactPhone[];
}

export interface NormalizedResult {
  contact: NormalizedContact;
  /** Numbers left out because they could not be read as phone numbers. */
  skipped: string[];
}

/** A label from the words a file uses: "Mobile Phone" -> mobile, "Business Phone 2" -> work, "CELL VOICE" -> mobile, "Phone" -> null. */
export function phoneLabel(text: string): string | null {
  const words = text.toLowerCase();
  if (/\b(mobile|cell|cellular|iphone)\b/.test(words)) return 'mobile';
  if (/\bfax\b/.test(words)) return 'fax';
  if (/\bpager\b/.test(words)) return 'pager';
  if (/\b(work|business|office|company)\b/.test(words)) return 'work';
  if (/\bhome\b/.test(words)) return 'home';
  if (/\bmain\b/.test(words)) return 'main';
  if (/\bother\b/.test(words)) return 'other';
  return null;
}

const invalid = (message: string): SwitchboardError => new SwitchboardError('BAD_REQUEST', message);

function bounded(value: string | null | undefined, field: string, max: number): string {
  const text = cleanText(value);
  if (text.length > max) throw invalid(`${field} must be at most ${max} characters (got ${text.length})`);
  return text;
}

/**
 * Checks and normalizes a contact. Throws BAD_REQUEST (with a message that
 * names the field) when the contact cannot be stored: no name, text too long,
 * too many numbers, or no number that reads as a phone number.
 */
export function normalizeContact(input: ContactInput, defaultCountry: string): NormalizedResult {
  const name = bounded(input.name, 'name', CONTACT_LIMITS.name);
  if (!name) throw invalid('name is required');
  const company = bounded(input.company, 'company', CONTACT_LIMITS.company) || null;
  if (input.phones.length > CONTACT_LIMITS.phones) throw invalid(`a contact has at most ${CONTACT_LIMITS.phones} phone numbers (got ${input.phones.length})`);

  const phones: ContactPhone[] = [];
  const skipped: string[] = [];
  for (const phone of input.phones) {
    const raw = cleanText(phone.number);
    if (!raw) continue;
    if (raw.length > CONTACT_LIMITS.number) throw invalid(`phone number "${raw.slice(0, 20)}…" is longer than ${CONTACT_LIMITS.number} characters`);
    const label = bounded(phone.label, 'phone label', CONTACT_LIMITS.label).toLowerCase() || null;
    const e164 = toE164(raw, defaultCountry);
    if (!e164) skipped.push(raw);
    else if (!phones.some((known) => known.e164 === e164)) phones.push({ e164, label });
  }
  if (!phones.length) {
    const tried = skipped.length ? ` ("${skipped.join('", "')}" could not be read)` : '';
    throw invalid(`a contact needs at least one phone number, e.g. +12125550100 or a national number of country ${defaultCountry}${tried}`);
  }
  return { contact: { name, company, phones }, skipped };
}
