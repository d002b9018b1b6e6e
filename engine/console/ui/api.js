// @ts-check
/**
 * The console's one way to the server: the admin API of the signed-in
 * account, with the admin key in the X-API-Key header. The key and the
 * account are kept in sessionStorage, which belongs to this tab and ends
 * with it: never in localStorage, a cookie or a URL. Requests send no
 * cookies and no referrer.
 */

const KEY = 'switchboard.console.key';
const ACCOUNT = 'switchboard.console.account';

/** @typedef {{ account: string, key: string }} Credentials */

export const session = {
  /** @returns {Credentials | null} */
  get() {
    const key = sessionStorage.getItem(KEY);
    const account = sessionStorage.getItem(ACCOUNT);
    return key && account ? { account, key } : null;
  },
  /** @param {Credentials} credentials */
  set(credentials) {
    sessionStorage.setItem(ACCOUNT, credentials.account);
    sessionStorage.setItem(KEY, credentials.key);
  },
  /** Forgets the key and everything the console kept for the tab (the persona chosen last). */
  clear() {
    for (const name of Object.keys(sessionStorage)) if (name.startsWith('switchboard.console.')) sessionStorage.removeItem(name);
  },
};

/** An error answer of the admin API: its status, code and sentence. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown> | undefined} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Whether the key itself was refused (missing, unknown, revoked, of another account or role). */
  get refusesKey() {
    return this.code.startsWith('AUTH_');
  }
}

/** @param {Credentials} credentials @param {string} path */
export const accountUrl = (credentials, path) => `/ucp/v2/accounts/${encodeURIComponent(credentials.account)}${path}`;

/** @param {Credentials} credentials @param {boolean} body */
export const headersFor = (credentials, body) => ({ 'X-API-Key': credentials.key, Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) });

/**
 * A request to the account's admin API; resolves with the JSON answer, rejects with an ApiError.
 * @param {string} path under /ucp/v2/accounts/{account}
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal, credentials?: Credentials }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const credentials = options.credentials ?? session.get();
  if (!credentials) throw new ApiError(401, 'AUTH_KEY_MISSING', 'Not signed in.');
  const hasBody = options.body !== undefined;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(accountUrl(credentials, path), {
      method: options.method ?? 'GET',
      headers: headersFor(credentials, hasBody),
      ...(hasBody ? { body: JSON.stringify(options.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, 'NETWORK', 'The server could not be reached. Check that it runs, then try again.');
  }
  const text = await response.text();
  /** @type {any} */
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && typeof data === 'object' ? data.error : undefined;
    throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? `The server answered ${response.status}.`, error?.details);
  }
  return data;
}
