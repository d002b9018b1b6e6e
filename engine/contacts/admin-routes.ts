/**
 * Admin API of native contacts, under /ucp/v2/accounts/{account}:
 *   GET    /contacts?phone=&source=&limit=&cursor=   list by name, or find by number
 *   POST   /contacts                                 create (or upsert by source_id, or add to the same person)
 *   GET    /contacts/{id}
 *   PUT    /contacts/{id}                            replace
 *   PATCH  /contacts/{id}                            change the fields given
 *   DELETE /contacts/{id}
 * A POST without a source_id for a person the native contacts already have
 * (same name, a shared number: same-person.ts) adds to that contact instead
 * of making a second one, which lookup_contact would otherwise read out
 * twice; it answers 200 with the contact as it now is.
 * Contacts synced from an external book can be read here but not changed:
 * the next sync would undo the change, so the answer is 409 instead.
 * The admin key of the account has been checked before these run.
 */
import { randomUUID } from 'node:crypto';

import type { Request, Response } from 'express';

import { SwitchboardError } from '../errors.ts';
import { jsonBody } from '../http/body.ts';
import { accountParam, onlyQueryParams, pagingParams, queryParam } from '../http/query.ts';
import type { AccountEntry, AccountsInForce } from '../manifests/entries.ts';
import { toE164 } from '../phone.ts';
import type { Executor } from '../store/engine.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import { CONTACT_LIMITS, normalizeContact, type ContactInput, type NormalizedContact, type PhoneInput } from './input.ts';
import { contactJson } from './present.ts';
import { samePerson, unionPhones } from './same-person.ts';
import { NATIVE_SOURCE, type Contact, type ContactStore } from './store.ts';

const FIELDS = ['name', 'company', 'phone_numbers', 'source_id'];

interface ContactBody {
  name?: string;
  company?: string | null;
  phones?: PhoneInput[];
  sourceId?: string;
}

const bad = (message: string): SwitchboardError => new SwitchboardError('BAD_REQUEST', message);

function readPhones(value: unknown): PhoneInput[] {
  if (!Array.isArray(value)) throw bad('phone_numbers must be an array of numbers ("+12125550100" or {"number": "+12125550100", "label": "mobile"})');
  if (value.length > CONTACT_LIMITS.phones) throw bad(`a contact has at most ${CONTACT_LIMITS.phones} phone numbers (got ${value.length})`);
  return value.map((item: unknown, index) => {
    if (typeof item === 'string') return { number: item };
    const entry = item as { number?: unknown; label?: unknown } | null;
    if (!entry || typeof entry !== 'object' || typeof entry.number !== 'string') throw bad(`phone_numbers[${index}] must be a string or an object with a string "number"`);
    if (entry.label !== undefined && entry.label !== null && typeof entry.label !== 'string') throw bad(`phone_numbers[${index}].label must be a string`);
    return { number: entry.number, label: entry.label ?? null };
  });
}

function readBody(body: unknown): ContactBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('send a JSON object with name, company, phone_numbers');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !FIELDS.includes(key));
  if (unknown.length) throw bad(`unknown field ${unknown.join(', ')}; a contact has ${FIELDS.join(', ')}`);
  const result: ContactBody = {};
  if (fields.name !== undefined) {
    if (typeof fields.name !== 'string') throw bad('name must be a string');
    result.name = fields.name;
  }
  if (fields.company !== undefined) {
    if (fields.company !== null && typeof fields.company !== 'string') throw bad('company must be a string or null');
    result.company = fields.company;
  }
  if (fields.phone_numbers !== undefined) result.phones = readPhones(fields.phone_numbers);
  if (fields.source_id !== undefined) {
    if (typeof fields.source_id !== 'string' || !fields.source_id.trim() || fields.source_id.length > CONTACT_LIMITS.sourceId) {
      throw bad(`source_id must be a string of 1-${CONTACT_LIMITS.sourceId} characters`);
    }
    result.sourceId = fields.source_id.trim();
  }
  return result;
}

/** Normalizes strictly: over the API, a number that cannot be read is refused rather than dropped. */
function strictContact(input: ContactInput, account: AccountEntry) {
  const { contact, skipped } = normalizeContact(input, account.defaultCountry);
  if (skipped.length) throw bad(`phone number "${skipped[0]}" could not be read; write it with its country code, e.g. +12125550100`);
  return contact;
}

/** The native contact that is already this person (a shared number, same name), if there is one to add to. */
async function nativeTwin(contacts: ContactStore, tx: Executor, accountId: string, contact: NormalizedContact): Promise<Contact | undefined> {
  // Two POSTs of one new person at once must not both create it: the second waits for the first's numbers.
  await contacts.lockNumbers(tx, accountId, contact.phones.map((phone) => phone.e164));
  for (const phone of contact.phones) {
    const twin = (await contacts.findByNumber(accountId, phone.e164, 50, tx)).find((known) => known.source === NATIVE_SOURCE && samePerson(known, contact));
    if (twin) return twin;
  }
  return undefined;
}

/** What the contact routes use: the accounts in force and the contact store. */
export interface ContactRoutesContext {
  registry: AccountsInForce;
  services: { contacts: ContactStore };
}

export function contactAdminRoutes(context: ContactRoutesContext): AdminRoutes {
  const { contacts } = context.services;

  const accountOf = (req: Request): AccountEntry => {
    const id = accountParam(req);
    const account = context.registry.current().accounts.get(id);
    if (!account) throw new SwitchboardError('UNKNOWN_ACCOUNT', `account ${id} has no manifest loaded; its contacts need its default_country`);
    return account;
  };

  const contactOf = async (req: Request, account: AccountEntry, forChange: boolean, tx?: Executor): Promise<Contact> => {
    const contact = await contacts.get(account.id, String(req.params.id), tx);
    if (!contact) throw new SwitchboardError('NOT_FOUND', `account ${account.id} has no contact ${String(req.params.id)}`);
    if (forChange && contact.source !== NATIVE_SOURCE) {
      throw new SwitchboardError('CONFLICT', `contact ${contact.id} is synced from ${contact.source}; change it there, the next sync brings it here`);
    }
    return contact;
  };

  return (router) => {
    router.get('/contacts', async (req, res) => {
      onlyQueryParams(req, ['phone', 'source', 'limit', 'cursor']);
      const account = accountOf(req);
      const phone = queryParam(req, 'phone', CONTACT_LIMITS.number);
      if (phone !== undefined) {
        const e164 = toE164(phone, account.defaultCountry);
        if (!e164) throw bad(`phone "${phone}" is not a phone number that can be read; e.g. +12125550100`);
        res.json({ phone_number: e164, contacts: (await contacts.findByNumber(account.id, e164, 50)).map(contactJson), next_cursor: null });
        return;
      }
      const page = await contacts.list(account.id, { ...pagingParams(req), source: queryParam(req, 'source', 64) });
      res.json({ contacts: page.contacts.map(contactJson), next_cursor: page.nextCursor });
    });

    router.post('/contacts', async (req, res) => {
      const account = accountOf(req);
      const body = readBody(jsonBody(req));
      if (body.name === undefined || body.phones === undefined) throw bad('name and phone_numbers are required');
      const contact = strictContact({ name: body.name, company: body.company, phones: body.phones }, account);
      const { contact: stored, change } = await contacts.transaction(async (tx) => {
        const twin = body.sourceId === undefined ? await nativeTwin(contacts, tx, account.id, contact) : undefined;
        if (!twin) return contacts.upsertContact(account.id, NATIVE_SOURCE, body.sourceId ?? randomUUID(), contact, tx);
        const phones = unionPhones(twin.phones, contact.phones);
        if (phones.length > CONTACT_LIMITS.phones) throw bad(`${twin.name} is already contact ${twin.id}; adding these numbers would give it more than ${CONTACT_LIMITS.phones}`);
        return contacts.upsertContact(account.id, NATIVE_SOURCE, twin.sourceId, { name: twin.name, company: contact.company ?? twin.company, phones }, tx);
      });
      res.status(change === 'created' ? 201 : 200).json(contactJson(stored));
    });

    router.get('/contacts/:id', async (req, res) => {
      const account = accountOf(req);
      res.json(contactJson(await contactOf(req, account, false)));
    });

    const change = (replace: boolean) => async (req: Request, res: Response) => {
      const account = accountOf(req);
      // One transaction, the contact read for update: a DELETE at the same time comes before or after, never in between.
      const changed = await contacts.transaction(async (tx) => {
        const current = await contactOf(req, account, true, tx);
        const body = readBody(jsonBody(req));
        if (body.sourceId !== undefined && body.sourceId !== current.sourceId) throw bad('source_id cannot be changed');
        if (replace && (body.name === undefined || body.phones === undefined)) throw bad('PUT replaces the contact: name and phone_numbers are required (use PATCH to change some fields)');
        const contact = strictContact(
          {
            name: body.name ?? current.name,
            company: body.company !== undefined || replace ? body.company : current.company,
            phones: body.phones ?? current.phones.map((phone) => ({ number: phone.e164, label: phone.label })),
          },
          account,
        );
        return (await contacts.upsertContact(account.id, NATIVE_SOURCE, current.sourceId, contact, tx)).contact;
      });
      res.json(contactJson(changed));
    };
    router.put('/contacts/:id', change(true));
    router.patch('/contacts/:id', change(false));

    router.delete('/contacts/:id', async (req, res) => {
      const account = accountOf(req);
      const contact = await contactOf(req, account, true);
      await contacts.deleteContact(account.id, contact.source, contact.sourceId);
      res.status(204).end();
    });
  };
}
