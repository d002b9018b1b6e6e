/**
 * lookup_contact: finds who owns a phone number in the account's contact
 * index (native contacts and synced books alike), however the number is
 * written. The index is local, so the answer never waits on a remote API.
 * No match is a normal answer; only a number that cannot be read is an error.
 * Entries that are one person (an import and a contact added by hand, or the
 * same person in two books) are read once, with every number and source
 * (same-person.ts).
 */
import { describeContact, phonesJson } from '../../contacts/present.ts';
import { mergeSamePerson } from '../../contacts/same-person.ts';
import { SwitchboardError } from '../../errors.ts';
import { spokenNumber, toE164 } from '../../phone.ts';
import type { ToolDefinition } from '../types.ts';

const MAX_MATCHES = 5;
/** Entries read before folding duplicates, so that five people are still found when some are listed twice. */
const ENTRIES_READ = 4 * MAX_MATCHES;

const contactSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    company: { type: ['string', 'null'] },
    phone_numbers: {
      type: 'array',
      items: { type: 'object', properties: { number: { type: 'string' }, label: { type: ['string', 'null'] } }, required: ['number', 'label'] },
    },
    source: { type: 'string', description: 'native, or the name of the synced contact source.' },
    sources: { type: 'array', items: { type: 'string' }, description: 'Every source the person is in (source is the first), when one person is in several.' },
  },
  required: ['name', 'company', 'phone_numbers', 'source'],
};

export const lookupContactTool: ToolDefinition<{ phone_number: string }> = {
  name: 'lookup_contact',
  title: 'Look up contact',
  description: 'Searches for a contact by phone number across all connected contact sources (native contacts, Google, Microsoft).',
  inputSchema: {
    type: 'object',
    properties: {
      phone_number: {
        type: 'string',
        minLength: 1,
        maxLength: 64,
        description: 'The phone number to search for, e.g. +12125550100 (national numbers are read with the account\'s country; a JSON number is read as its digits)',
      },
    },
    required: ['phone_number'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: {
      found: { type: 'boolean' },
      phone_number: { type: 'string', description: 'The number searched for, in E.164.' },
      contacts: { type: 'array', items: contactSchema, description: `Matches, native contacts first, each person once (at most ${MAX_MATCHES}).` },
    },
    required: ['found', 'phone_number', 'contacts'],
  },
  annotations: { title: 'Look up contact', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(ctx, args) {
    const e164 = toE164(args.phone_number, ctx.account.defaultCountry);
    if (!e164) {
      throw new SwitchboardError(
        'TOOL_ARGUMENTS',
        `"${args.phone_number}" is not a phone number that can be read. Pass the number with its country code, e.g. +12125550100, or as dialed in the country ${ctx.account.defaultCountry}.`,
      );
    }
    const matches = mergeSamePerson(await ctx.services.contacts.findByNumber(ctx.call.accountId, e164, ENTRIES_READ)).slice(0, MAX_MATCHES);
    const data = {
      found: matches.length > 0,
      phone_number: e164,
      contacts: matches.map((person) => ({
        name: person.name,
        company: person.company,
        phone_numbers: phonesJson(person.phones),
        source: person.sources[0] as string,
        ...(person.sources.length > 1 ? { sources: person.sources } : {}),
      })),
    };
    if (!matches.length) return { text: `No contact found for ${spokenNumber(e164)}.`, data };
    if (matches.length === 1) return { text: `Contact found: ${describeContact(matches[0]!, true)}.`, data };
    return { text: `${matches.length} contacts found for ${spokenNumber(e164)}: ${matches.map((contact) => describeContact(contact, false)).join(' | ')}.`, data };
  },
};
