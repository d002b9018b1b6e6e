/**
 * A fake Microsoft Graph, at the wire, as the contact delta and delta query
 * documentation describe it: GET /v1.0/{me | users/{id}}/[contactFolders/
 * {id}/]contacts/delta with $select on the first request, pages of `value`
 * sized by `Prefer: odata.maxpagesize`, `@odata.nextLink` ($skiptoken) to
 * the next page and `@odata.deltaLink` ($deltatoken) on the last, removed
 * contacts as `{ id, "@removed": { reason } }`, an unknown delta token
 * answered 410 Gone (or 400 syncStateNotFound); and the Microsoft identity
 * platform's token endpoint (POST /{tenant}/oauth2/v2.0/token), which wants
 * a scope and answers each refresh with a new refresh token (the old ones
 * stay valid until the test retires them, as their 90 days run out).
 */
import { decodeToken, encodeToken, FakeOAuthApi, VersionedBook, type JsonAnswer, type RecordedRequest } from './fake-oauth-api.ts';

export interface FakeGraphContact {
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  companyName?: string | null;
  businessPhones?: string[];
  homePhones?: string[];
  mobilePhone?: string | null;
}

export function graphContact(displayName: string, phones: { mobile?: string; business?: string[]; home?: string[] }, companyName?: string): FakeGraphContact {
  const [givenName, ...surname] = displayName.split(' ');
  return { displayName, givenName, surname: surname.join(' ') || null, companyName: companyName ?? null, businessPhones: phones.business ?? [], homePhones: phones.home ?? [], mobilePhone: phones.mobile ?? null };
}

const DELTA_PATH = /^\/v1\.0\/(me|users\/[^/]+)\/(contactFolders\/[^/]+\/)?contacts\/delta$/;
const DEFAULT_PAGE_SIZE = 10;

const graphError = (status: number, code: string, message: string, headers?: Record<string, string>): JsonAnswer => ({ status, body: { error: { code, message, innerError: { date: '2026-03-01T12:00:00', 'request-id': 'fake' } } }, ...(headers ? { headers } : {}) });

interface Round {
  since: number | undefined;
  at: number;
  offset: number;
  select: string | null;
  path: string;
}

export class FakeGraph extends FakeOAuthApi {
  readonly contacts = new VersionedBook<FakeGraphContact>();
  maxPageSize = 1000;
  /** 410 Gone with a Location to start over, or 400 syncStateNotFound. */
  expiredAnswer: 'gone' | 'sync-state-not-found' = 'gone';
  /** Scopes asked for at the token endpoint. */
  readonly scopes: string[] = [];

  tokenUrl(tenant: string): string {
    return `${this.url}/${tenant}/oauth2/v2.0/token`;
  }

  protected isTokenPath(path: string): boolean {
    return /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path);
  }

  protected checkGrant(form: URLSearchParams): string | undefined {
    const scope = form.get('scope') ?? '';
    this.scopes.push(scope);
    return /\/Contacts\.Read(\.Shared)?\b/.test(scope) ? undefined : 'AADSTS70011: The provided request must include a \'scope\' input parameter.';
  }

  protected tokenAnswer(accessToken: string, form: URLSearchParams): Record<string, unknown> {
    const lifetime = this.tokenLifetimeSeconds;
    return { token_type: 'Bearer', scope: form.get('scope'), expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken, refresh_token: `0.rotated-${accessToken}` };
  }

  protected invalidGrant(): JsonAnswer {
    return {
      status: 400,
      body: { error: 'invalid_grant', error_description: 'AADSTS700082: The refresh token has expired due to inactivity.', error_codes: [700082], trace_id: 'fake', correlation_id: 'fake' },
    };
  }

  protected unauthorized(): JsonAnswer {
    return graphError(401, 'InvalidAuthenticationToken', 'Access token has expired or is not yet valid.');
  }

  protected api(request: RecordedRequest): JsonAnswer {
    if (request.method !== 'GET' || !DELTA_PATH.test(request.path)) return graphError(404, 'ResourceNotFound', 'Resource not found for the segment.');
    const { query } = request;
    const skip = query.get('$skiptoken');
    const delta = query.get('$deltatoken');
    let round: Round | undefined;
    if (skip) {
      round = decodeToken<Round>(skip);
      if (!round || round.path !== request.path) return graphError(400, 'BadRequest', 'The skip token is not valid.');
    } else if (delta) {
      const state = decodeToken<{ v: number; select: string | null; path: string }>(delta);
      if (!state || state.path !== request.path) return graphError(400, 'BadRequest', 'The delta token is not valid.');
      if (state.v < this.contacts.oldestValid) {
        return this.expiredAnswer === 'gone'
          ? graphError(410, 'syncStateNotFound', 'Resync required. Replace any local cached copies with the results of a new full synchronization.', { location: `${this.url}${request.path}` })
          : graphError(400, 'syncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.');
      }
      round = { since: state.v, at: this.contacts.version, offset: 0, select: state.select, path: request.path };
    } else {
      round = { since: undefined, at: this.contacts.version, offset: 0, select: query.get('$select'), path: request.path };
    }
    const fields = round.select?.split(',');
    const { live, deleted } = this.contacts.changes(round.since);
    const rows = [
      ...live.map(({ id, value }) => ({
        '@odata.type': '#microsoft.graph.contact',
        '@odata.etag': `W/"${id}"`,
        id,
        ...Object.fromEntries(Object.entries(value).filter(([field]) => !fields || fields.includes(field))),
      })),
      ...deleted.map((id) => ({ '@odata.type': '#microsoft.graph.contact', id, '@removed': { reason: 'deleted' } })),
    ];
    const preferred = Number(/odata\.maxpagesize=(\d+)/.exec(String(request.headers.prefer ?? ''))?.[1] ?? DEFAULT_PAGE_SIZE);
    const size = Math.min(preferred, this.maxPageSize);
    const more = round.offset + size < rows.length;
    const link = (token: string, value: unknown) => `${this.url}${request.path}?${token}=${encodeToken(value)}`;
    return {
      status: 200,
      headers: { 'preference-applied': `odata.maxpagesize=${size}` },
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#Collection(contact)`,
        ...(more
          ? { '@odata.nextLink': link('$skiptoken', { ...round, offset: round.offset + size }) }
          : { '@odata.deltaLink': link('$deltatoken', { v: round.at, select: round.select, path: request.path }) }),
        value: rows.slice(round.offset, round.offset + size),
      },
    };
  }
}
