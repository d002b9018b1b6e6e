/**
 * A fake Google, at the wire, as the People API v1 reference documents it:
 * people.connections.list (GET /v1/people/me/connections, personFields
 * required) and otherContacts.list (GET /v1/otherContacts, readMask limited
 * to emailAddresses, metadata, names, phoneNumbers, photos), paged with
 * pageSize / nextPageToken (page requests must repeat the first call's
 * parameters), incremental with requestSyncToken / nextSyncToken /
 * syncToken (deleted people come back with metadata.deleted = true), an
 * expired sync token refused, errors as {error: {code, message, status,
 * details}}; and Google's OAuth token endpoint (POST /token).
 */
import { decodeToken, encodeToken, FakeOAuthApi, VersionedBook, type JsonAnswer, type RecordedRequest } from './fake-oauth-api.ts';

export interface FakePerson {
  names?: { metadata?: { primary?: boolean }; displayName?: string; givenName?: string; familyName?: string }[];
  phoneNumbers?: { value: string; canonicalForm?: string; type?: string; formattedType?: string }[];
  organizations?: { metadata?: { primary?: boolean }; name?: string }[];
}

/** A person as Google stores one: a primary name, numbers with their type, an organization. */
export function person(name: string, phones: [value: string, type?: string][], organization?: string): FakePerson {
  const [givenName, ...family] = name.split(' ');
  return {
    names: [{ metadata: { primary: true }, displayName: name, givenName, familyName: family.join(' ') }],
    phoneNumbers: phones.map(([value, type]) => ({ value, ...(type ? { type, formattedType: type[0]!.toUpperCase() + type.slice(1) } : {}) })),
    ...(organization ? { organizations: [{ metadata: { primary: true }, name: organization }] } : {}),
  };
}

const CONNECTION_FIELDS = ['addresses', 'emailAddresses', 'metadata', 'names', 'organizations', 'phoneNumbers', 'photos'];
const OTHER_CONTACT_FIELDS = ['emailAddresses', 'metadata', 'names', 'phoneNumbers', 'photos'];
const EXPIRED_MESSAGE = 'Sync token is expired. Clear local cache and retry call without the sync token.';

const googleError = (code: number, status: string, message: string, details?: unknown[]): JsonAnswer => ({ status: code, body: { error: { code, message, status, ...(details ? { details } : {}) } } });

export class FakeGoogle extends FakeOAuthApi {
  readonly connections = new VersionedBook<FakePerson>();
  readonly otherContacts = new VersionedBook<FakePerson>();
  /** The server's own page limit (it may return fewer than pageSize asks for). */
  maxPageSize = 1000;
  /** 410, or 400 FAILED_PRECONDITION with ErrorInfo reason EXPIRED_SYNC_TOKEN (what the API is seen to answer). */
  expiredAnswer: 'gone' | 'failed-precondition' = 'gone';

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  protected isTokenPath(path: string): boolean {
    return path === '/token';
  }

  protected checkGrant(): string | undefined {
    return undefined;
  }

  protected tokenAnswer(accessToken: string): Record<string, unknown> {
    return { access_token: accessToken, expires_in: this.tokenLifetimeSeconds, scope: 'https://www.googleapis.com/auth/contacts.readonly', token_type: 'Bearer' };
  }

  protected invalidGrant(): JsonAnswer {
    return { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };
  }

  protected unauthorized(): JsonAnswer {
    return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
  }

  protected api(request: RecordedRequest): JsonAnswer {
    if (request.method === 'GET' && request.path === '/v1/people/me/connections') return this.list(request, this.connections, 'personFields', CONNECTION_FIELDS, 'connections');
    if (request.method === 'GET' && request.path === '/v1/otherContacts') return this.list(request, this.otherContacts, 'readMask', OTHER_CONTACT_FIELDS, 'otherContacts');
    return googleError(404, 'NOT_FOUND', 'Requested entity was not found.');
  }

  private list(request: RecordedRequest, book: VersionedBook<FakePerson>, maskParam: string, allowed: string[], items: string): JsonAnswer {
    const { query } = request;
    const mask = query.get(maskParam);
    if (!mask) return googleError(400, 'INVALID_ARGUMENT', `${maskParam} mask is required. Please specify one or more valid paths.`);
    const invalid = mask.split(',').filter((field) => !allowed.includes(field));
    if (invalid.length) return googleError(400, 'INVALID_ARGUMENT', `Invalid ${maskParam} path: "${invalid[0]}".`);
    const pageSize = Number(query.get('pageSize') ?? 100);
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > 1000) return googleError(400, 'INVALID_ARGUMENT', 'pageSize must be between 1 and 1000.');

    const call = [...query].filter(([name]) => name !== 'pageToken').sort().join('&');
    const pageToken = query.get('pageToken');
    const page = pageToken ? decodeToken<{ offset: number; at: number; call: string }>(pageToken) : { offset: 0, at: book.version, call };
    if (!page || page.call !== call) return googleError(400, 'INVALID_ARGUMENT', 'Parameters provided to the request must match the call that provided the page token.');

    const syncToken = query.get('syncToken');
    let since: number | undefined;
    if (syncToken) {
      since = decodeToken<{ v: number }>(syncToken)?.v;
      if (since === undefined) return googleError(400, 'INVALID_ARGUMENT', 'Sync token is invalid.');
      if (since < book.oldestValid) {
        return this.expiredAnswer === 'gone'
          ? googleError(410, 'GONE', EXPIRED_MESSAGE)
          : googleError(400, 'FAILED_PRECONDITION', EXPIRED_MESSAGE, [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EXPIRED_SYNC_TOKEN', domain: 'people.googleapis.com' }]);
      }
    }
    const fields = mask.split(',');
    const { live, deleted } = book.changes(since);
    const people = [
      ...live.map(({ id, value }) => ({
        resourceName: id,
        etag: `%E${id}`,
        ...Object.fromEntries(Object.entries(value).filter(([field]) => fields.includes(field))),
        ...(fields.includes('metadata') ? { metadata: { sources: [{ type: 'CONTACT', id: id.split('/')[1] }] } } : {}),
      })),
      ...deleted.map((id) => ({ resourceName: id, etag: `%D${id}`, metadata: { sources: [{ type: 'CONTACT', id: id.split('/')[1] }], deleted: true } })),
    ];
    const size = Math.min(pageSize || 100, this.maxPageSize);
    const shown = people.slice(page.offset, page.offset + size);
    const more = page.offset + size < people.length;
    return {
      status: 200,
      body: {
        ...(shown.length ? { [items]: shown } : {}),
        ...(items === 'connections' ? { totalPeople: people.length, totalItems: people.length } : { totalSize: people.length }),
        ...(more ? { nextPageToken: encodeToken({ offset: page.offset + size, at: page.at, call }) } : {}),
        ...(!more && query.get('requestSyncToken') === 'true' ? { nextSyncToken: encodeToken({ v: page.at }) } : {}),
      },
    };
  }
}
