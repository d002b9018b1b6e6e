/**
 * Contacts that are one person. The index can hold the same person twice:
 * an import and a contact added by hand, or the same person in the native
 * contacts and in a synced book. A voice agent must not read "2 contacts
 * found: Jane Doe | Jane Doe" to a caller, so lookup_contact folds such
 * entries into one (`mergeSamePerson`), and the admin API's POST adds to the
 * native contact that is already there (`samePerson`) instead of making a
 * second one.
 *
 * Same person: the same name, ignoring case, accents and punctuation, on a
 * shared number (lookup results all share the number searched for), and no
 * two different companies. Two entries that name different companies are
 * kept apart: "Jane Doe, Doe Plumbing" and "Jane Doe, Acme" on a shared
 * office line may well be two people, and the agent can ask.
 *
 * Pure functions: the store reads, these decide.
 */
import type { ContactPhone } from './input.ts';
import type { Contact } from './store.ts';

/** "Jane  DOE" and "jane doe." are one name. */
export const nameKey = (name: string): string =>
  name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .join(' ');

const companyKey = (company: string | null): string | null => (company === null ? null : nameKey(company) || null);

/** Whether two contacts that share a number are the same person. */
export function samePerson(a: Pick<Contact, 'name' | 'company'>, b: Pick<Contact, 'name' | 'company'>): boolean {
  if (nameKey(a.name) !== nameKey(b.name)) return false;
  const [ca, cb] = [companyKey(a.company), companyKey(b.company)];
  return ca === null || cb === null || ca === cb;
}

/** One person as the agent reads them: the first entry's name, every number once, every source once. */
export interface PersonView {
  name: string;
  company: string | null;
  phones: ContactPhone[];
  /** Where the person was found, in the order of the entries (native first in a lookup). */
  sources: string[];
}

/** Adds numbers that are not there yet, keeping the first label a number was given. */
export function unionPhones(first: readonly ContactPhone[], more: readonly ContactPhone[]): ContactPhone[] {
  const phones = first.map((phone) => ({ ...phone }));
  for (const phone of more) {
    const known = phones.find((candidate) => candidate.e164 === phone.e164);
    if (!known) phones.push({ ...phone });
    else if (known.label === null && phone.label !== null) known.label = phone.label;
  }
  return phones;
}

/** Folds entries that are the same person into one, keeping the order of first appearance. */
export function mergeSamePerson(contacts: readonly Contact[]): PersonView[] {
  const people: { view: PersonView; entries: Pick<Contact, 'name' | 'company'>[] }[] = [];
  for (const contact of contacts) {
    const person = people.find((candidate) => candidate.entries.every((entry) => samePerson(entry, contact)));
    if (!person) {
      people.push({ view: { name: contact.name, company: contact.company, phones: contact.phones.map((phone) => ({ ...phone })), sources: [contact.source] }, entries: [contact] });
      continue;
    }
    person.entries.push(contact);
    person.view.company ??= contact.company;
    person.view.phones = unionPhones(person.view.phones, contact.phones);
    if (!person.view.sources.includes(contact.source)) person.view.sources.push(contact.source);
  }
  return people.map((person) => person.view);
}
