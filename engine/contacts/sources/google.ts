/**
 * Google Contacts through the People API (v1):
 *
 *   GET {base}/v1/people/me/connections?personFields=…&pageSize=1000&requestSyncToken=true[&syncToken=…][&pageToken=…]
 *   GET {base}/v1/otherContacts?readMask=…&pageSize=1000&requestSyncToken=true[&syncToken=…][&pageToken=…]
 *
 * Pages follow `nextPageToken`; the last page of a read carries
 * `nextSyncToken`, and a read with `syncToken` returns only what changed
 * since, deleted people as `metadata.deleted: true`. Every page request
 * repeats the first one's parameters, as the API requires. Sync tokens
 * expire (7 days after the full sync): the API answers 410, or 400
 * FAILED_PRECONDITION with the ErrorInfo reason EXPIRED_SYNC_TOKEN, and the
 * sync starts over. Connections ("people/…") and other contacts
 * ("otherContacts/…") have distinct resource names, so both live under the
 * source's name without colliding; the cursor holds one token per stream.
 */
import { phoneLabel, type PhoneInput } from '../input.ts';
import type { ResolvedSource } from './config.ts';
import { failureForAnswer, providerError, ResyncRequired, SourceFailure } from './failures.ts';
import type { HttpResponse } from './http.ts';
import { authorizedGet, jsonBody } from './oauth.ts';
import { contactInput, MAX_PAGES, type ApplyPage, type ContactChange, type ContactProvider, type ProviderDeps } from './provider.ts';

interface Stream {
  key: 'connections' | 'other';
  path: string;
  /** The field mask parameter and its value (other contacts cannot read organizations). */
  mask: [string, string];
  /** The array of people in a page. */
  items: string;
}

const CONNECTIONS: Stream = { key: 'connections', path: '/v1/people/me/connections', mask: ['personFields', 'names,phoneNumbers,organizations,metadata'], items: 'connections' };
const OTHER_CONTACTS: Stream = { key: 'other', path: '/v1/otherContacts', mask: ['readMask', 'names,phoneNumbers,metadata'], items: 'otherContacts' };
const PAGE_SIZE = '1000';
const SERVICE = 'the People API';

interface GoogleField {
  metadata?: { primary?: boolean };
}
interface Person {
  resourceName?: string;
  metadata?: { deleted?: boolean };
  names?: (GoogleField & { displayName?: string; givenName?: string; familyName?: string; unstructuredName?: string })[];
  organizations?: (GoogleField & { name?: string })[];
  phoneNumbers?: { value?: string; canonicalForm?: string; type?: string; formattedType?: string }[];
}

const primary = <T extends GoogleField>(fields: T[] | undefined): T | undefined => fields?.find((field) => field.metadata?.primary) ?? fields?.[0];

/** "workFax" -> fax, "mobile" -> mobile, a custom "Assistant" -> assistant. */
function labelOf(type: string | undefined, formattedType: string | undefined): string | null {
  const words = (type ?? formattedType ?? '').replace(/([a-z])([A-Z])/g, '$1 $2').trim();
  return words ? (phoneLabel(words) ?? words.toLowerCase()) : null;
}

export function personChange(person: Person): ContactChange | undefined {
  const id = person.resourceName;
  if (typeof id !== 'string' || !id) return undefined;
  if (person.metadata?.deleted) return { kind: 'delete', id };
  const name = primary(person.names);
  const fullName = name?.displayName || [name?.givenName, name?.familyName].filter(Boolean).join(' ') || name?.unstructuredName;
  const phones: PhoneInput[] = (person.phoneNumbers ?? []).map((phone) => ({ number: phone.canonicalForm || phone.value || '', label: labelOf(phone.type, phone.formattedType) }));
  return { kind: 'upsert', id, input: contactInput(fullName, primary(person.organizations)?.name, phones) };
}

function isExpiredSyncToken(response: HttpResponse): boolean {
  if (response.status === 410) return true;
  const error = providerError(response.body);
  return error.reasons.includes('EXPIRED_SYNC_TOKEN') || (response.status === 400 && error.code === 'FAILED_PRECONDITION' && /sync token/i.test(error.message ?? ''));
}

function parseCursor(cursor: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(cursor);
    if (value && typeof value === 'object') return value as Record<string, string>;
  } catch {
    // an unreadable cursor is as good as an expired one
  }
  throw new ResyncRequired('the stored sync state cannot be read');
}

export function googleProvider(source: ResolvedSource, deps: ProviderDeps): ContactProvider {
  const streams = source.entry.other_contacts ? [CONNECTIONS, OTHER_CONTACTS] : [CONNECTIONS];

  async function readStream(stream: Stream, syncToken: string | undefined, apply: ApplyPage, signal: AbortSignal): Promise<string> {
    let pageToken: string | undefined;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const params = new URLSearchParams({ [stream.mask[0]]: stream.mask[1], pageSize: PAGE_SIZE, requestSyncToken: 'true' });
      if (syncToken) params.set('syncToken', syncToken);
      if (pageToken) params.set('pageToken', pageToken);
      const response = await authorizedGet(deps.tokens, deps.send, `${source.apiBaseUrl}${stream.path}?${params}`, {}, signal);
      if (response.status !== 200) {
        if (syncToken && isExpiredSyncToken(response)) throw new ResyncRequired('the People API sync token expired');
        throw failureForAnswer(SERVICE, response, deps.clock.now());
      }
      const body = jsonBody(SERVICE, response);
      const people = body[stream.items] ?? [];
      if (!Array.isArray(people)) throw new SourceFailure('protocol', `${SERVICE} answered with ${stream.items} that is not a list`);
      await apply(people as Person[], personChange);
      const next = body.nextPageToken;
      if (typeof next === 'string' && next) {
        if (next === pageToken) throw new SourceFailure('protocol', `${SERVICE} answered the same nextPageToken twice`);
        pageToken = next;
        continue;
      }
      if (typeof body.nextSyncToken !== 'string' || !body.nextSyncToken) throw new SourceFailure('protocol', `${SERVICE} ended the ${stream.items} list without a nextSyncToken`);
      return body.nextSyncToken;
    }
    throw new SourceFailure('protocol', `${SERVICE} handed out more than ${MAX_PAGES} pages of ${stream.items}`);
  }

  return {
    async read(cursor, apply, signal) {
      const tokens = cursor === null ? {} : parseCursor(cursor);
      const next: Record<string, string> = {};
      for (const stream of streams) {
        const token = tokens[stream.key];
        if (cursor !== null && typeof token !== 'string') throw new ResyncRequired(`no sync token for ${stream.items}`);
        next[stream.key] = await readStream(stream, token, apply, signal);
      }
      return JSON.stringify(next);
    },
  };
}
