/**
 * How a contact is shown: as JSON (admin API, CLI --json, tool data, all
 * snake_case) and as words a voice agent reads out.
 */
import { spokenNumber } from '../phone.ts';
import type { ContactPhone } from './input.ts';
import type { PersonView } from './same-person.ts';
import type { Contact } from './store.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

export const phonesJson = (phones: readonly ContactPhone[]) => phones.map((phone) => ({ number: phone.e164, label: phone.label }));

export function contactJson(contact: Contact) {
  return {
    id: contact.id,
    name: contact.name,
    company: contact.company,
    phone_numbers: phonesJson(contact.phones),
    source: contact.source,
    source_id: contact.sourceId,
    created_at: iso(contact.createdAt),
    updated_at: iso(contact.updatedAt),
  };
}

/** "Jane Doe, company Acme, phone numbers +1 212 555 0100 (mobile); source: native" ("sources: native, acme-google" for a person in several). */
export function describeContact(contact: PersonView, withNumbers: boolean): string {
  const parts = [contact.name];
  if (contact.company) parts.push(`company ${contact.company}`);
  if (withNumbers) {
    const numbers = contact.phones.map((phone) => `${spokenNumber(phone.e164)}${phone.label ? ` (${phone.label})` : ''}`);
    parts.push(`${numbers.length > 1 ? 'phone numbers' : 'phone number'} ${numbers.join(', ')}`);
  }
  return `${parts.join(', ')}; ${contact.sources.length > 1 ? 'sources' : 'source'}: ${contact.sources.join(', ')}`;
}
