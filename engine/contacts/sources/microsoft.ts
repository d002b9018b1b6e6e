/**
 * Outlook contacts through Microsoft Graph's delta query (v1.0):
 *
 *   GET {base}/v1.0/me/contacts/delta?$select=…                         (default folder)
 *   GET {base}/v1.0/users/{user}/contactFolders/{folder}/contacts/delta?$select=…
 *
 * A round follows `@odata.nextLink` until a page carries
 * `@odata.deltaLink`, which is stored and requested next time for only the
 * changes; deleted contacts arrive as `{ id, "@removed": { reason } }`. The
 * links are followed only on the configured API's origin. When Graph no
 * longer knows the delta token it answers 410 Gone (or an error code such as
 * syncStateNotFound) and the sync starts over with a full round.
 */
import type { PhoneInput } from '../input.ts';
import type { ResolvedSource } from './config.ts';
import { failureForAnswer, providerError, ResyncRequired, SourceFailure } from './failures.ts';
import type { HttpResponse } from './http.ts';
import { authorizedGet, jsonBody } from './oauth.ts';
import { contactInput, MAX_PAGES, sameOrigin, type ContactChange, type ContactProvider, type ProviderDeps } from './provider.ts';

const SELECT = 'displayName,givenName,surname,companyName,businessPhones,homePhones,mobilePhone';
const PAGE_SIZE = 500;
const SERVICE = 'Microsoft Graph';
const RESYNC_CODES = new Set(['syncstatenotfound', 'syncstateinvalid', 'resyncrequired']);

/** The scope asked for at the token endpoint: another user's contacts need the .Shared permission. */
export const graphScope = (source: ResolvedSource): string => `${new URL(source.apiBaseUrl).origin}/${source.entry.user ? 'Contacts.Read.Shared' : 'Contacts.Read'} offline_access`;

export function deltaUrl(source: ResolvedSource): string {
  const owner = source.entry.user ? `users/${encodeURIComponent(source.entry.user)}` : 'me';
  const folder = source.entry.folder ? `contactFolders/${encodeURIComponent(source.entry.folder)}/` : '';
  return `${source.apiBaseUrl}/v1.0/${owner}/${folder}contacts/delta?${new URLSearchParams({ $select: SELECT })}`;
}

interface GraphContact {
  id?: string;
  '@removed'?: unknown;
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  companyName?: string | null;
  businessPhones?: string[] | null;
  homePhones?: string[] | null;
  mobilePhone?: string | null;
}

const numbers = (list: unknown, label: string): PhoneInput[] => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string').map((number) => ({ number, label })) : []);

export function graphChange(contact: GraphContact): ContactChange | undefined {
  const id = contact.id;
  if (typeof id !== 'string' || !id) return undefined;
  if (contact['@removed'] !== undefined) return { kind: 'delete', id };
  const name = contact.displayName || [contact.givenName, contact.surname].filter(Boolean).join(' ');
  const phones = [...numbers(contact.mobilePhone ? [contact.mobilePhone] : [], 'mobile'), ...numbers(contact.businessPhones, 'work'), ...numbers(contact.homePhones, 'home')];
  return { kind: 'upsert', id, input: contactInput(name, contact.companyName, phones) };
}

function refusesToken(response: HttpResponse): boolean {
  return response.status === 410 || RESYNC_CODES.has((providerError(response.body).code ?? '').toLowerCase());
}

export function microsoftProvider(source: ResolvedSource, deps: ProviderDeps): ContactProvider {
  return {
    async read(cursor, apply, signal) {
      let url = cursor ?? deltaUrl(source);
      for (let page = 1; page <= MAX_PAGES; page++) {
        if (!sameOrigin(url, source.apiBaseUrl)) throw new SourceFailure('protocol', `${SERVICE} handed out a link to another host than ${new URL(source.apiBaseUrl).host}; not followed`);
        const response = await authorizedGet(deps.tokens, deps.send, url, { prefer: `odata.maxpagesize=${PAGE_SIZE}` }, signal);
        if (response.status !== 200) {
          if (refusesToken(response)) throw new ResyncRequired('Microsoft Graph no longer accepts the delta token');
          throw failureForAnswer(SERVICE, response, deps.clock.now());
        }
        const body = jsonBody(SERVICE, response);
        const contacts = body.value ?? [];
        if (!Array.isArray(contacts)) throw new SourceFailure('protocol', `${SERVICE} answered with a value that is not a list`);
        await apply(contacts as GraphContact[], graphChange);
        const next = body['@odata.nextLink'];
        const delta = body['@odata.deltaLink'];
        if (typeof next === 'string' && next) {
          if (next === url) throw new SourceFailure('protocol', `${SERVICE} answered with a nextLink to the same page`);
          url = next;
          continue;
        }
        if (typeof delta === 'string' && delta) {
          if (!sameOrigin(delta, source.apiBaseUrl)) throw new SourceFailure('protocol', `${SERVICE} handed out a deltaLink to another host than ${new URL(source.apiBaseUrl).host}`);
          return delta;
        }
        throw new SourceFailure('protocol', `${SERVICE} ended a page without @odata.nextLink or @odata.deltaLink`);
      }
      throw new SourceFailure('protocol', `${SERVICE} handed out more than ${MAX_PAGES} pages`);
    },
  };
}
