/**
 * Access tokens from a refresh token (RFC 6749 section 6, as Google and the
 * Microsoft identity platform implement it), cached until shortly before
 * they expire, and the authorized GETs the providers' APIs are read with.
 *
 * When the token endpoint hands back a new refresh token (Microsoft does on
 * every refresh), it is kept (refresh-tokens.ts) and used from then on; if
 * the kept one is refused, the configured one is tried once more.
 */
import type { Clock } from '../../clock.ts';
import { describeAnswer, failureForAnswer, fromHttpFailure, providerError, SourceFailure } from './failures.ts';
import { HttpFailure, type HttpResponse, type Send } from './http.ts';
import type { RefreshTokenStore } from './refresh-tokens.ts';

export interface OAuthClient {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Microsoft wants the scopes asked for; Google keeps those of the grant. */
  scope?: string;
}

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_BYTES = 16 * 1024 * 1024;
/** A token this close to its expiry is not used for another request (one that dies anyway is replaced on the 401). */
const EXPIRY_MARGIN_MS = 120_000;

const requestDefaults = { timeoutMs: REQUEST_TIMEOUT_MS, maxBytes: MAX_BYTES } as const;

async function sendOrFail(send: Send, request: Parameters<Send>[0]): Promise<HttpResponse> {
  try {
    return await send(request);
  } catch (error) {
    if (error instanceof HttpFailure) throw fromHttpFailure(error);
    throw error;
  }
}

export class AccessTokens {
  private cached: { token: string; expiresAt: number } | undefined;
  /** The refresh token the endpoint handed back last, when it did. */
  private kept: string | undefined;

  constructor(
    private readonly client: OAuthClient,
    private readonly send: Send,
    private readonly clock: Clock,
    private readonly refreshTokens?: RefreshTokenStore,
  ) {}

  /** The tokens this holds besides the configured credentials (for masking). */
  held(): string[] {
    return [this.cached?.token, this.kept].filter((token): token is string => token !== undefined);
  }

  /** Forgets the cached token (the API refused it). */
  invalidate(): void {
    this.cached = undefined;
  }

  async get(signal?: AbortSignal): Promise<string> {
    if (this.cached && this.cached.expiresAt - EXPIRY_MARGIN_MS > this.clock.now()) return this.cached.token;
    this.kept = await this.refreshTokens?.load();
    let refreshToken = this.kept ?? this.client.refreshToken;
    let response = await this.refresh(refreshToken, signal);
    if (response.status !== 200 && this.kept !== undefined && providerError(response.body).code === 'invalid_grant') {
      await this.refreshTokens?.clear();
      this.kept = undefined;
      refreshToken = this.client.refreshToken;
      response = await this.refresh(refreshToken, signal);
    }
    if (response.status !== 200) throw this.tokenFailure(response);
    let answer: { access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      answer = JSON.parse(response.body.toString('utf8')) as typeof answer;
    } catch {
      throw new SourceFailure('protocol', 'the token endpoint did not answer with JSON');
    }
    if (typeof answer.access_token !== 'string' || !answer.access_token) throw new SourceFailure('protocol', 'the token endpoint answered without an access_token');
    if (typeof answer.refresh_token === 'string' && answer.refresh_token && answer.refresh_token !== refreshToken) {
      this.kept = answer.refresh_token;
      await this.refreshTokens?.save(answer.refresh_token);
    }
    const expiresIn = Number(answer.expires_in);
    this.cached = { token: answer.access_token, expiresAt: this.clock.now() + (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600) * 1000 };
    return this.cached.token;
  }

  private refresh(refreshToken: string, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: this.client.clientId, client_secret: this.client.clientSecret, refresh_token: refreshToken });
    if (this.client.scope) form.set('scope', this.client.scope);
    return sendOrFail(this.send, {
      method: 'POST',
      url: this.client.tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      ...requestDefaults,
      signal,
    });
  }

  private tokenFailure(response: HttpResponse): SourceFailure {
    const error = providerError(response.body);
    const answer = `the token endpoint answered ${describeAnswer(response.status, error)}`;
    if (error.code === 'invalid_grant') return new SourceFailure('auth', `${answer}; the refresh token was revoked or has expired: grant access again and update the refresh_token secret`);
    if (error.code === 'invalid_client' || error.code === 'unauthorized_client') return new SourceFailure('auth', `${answer}; check the client_id and client_secret secrets`);
    if (response.status === 400 || response.status === 401) return new SourceFailure('auth', answer);
    return failureForAnswer('the token endpoint', response, this.clock.now());
  }
}

/**
 * GET with the access token. A 401 means the token died before its time
 * (revoked, rotated keys): one fresh token is fetched and the request tried
 * once more before it counts as a failure.
 */
export async function authorizedGet(tokens: AccessTokens, send: Send, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse> {
  for (let attempt = 1; ; attempt++) {
    const token = await tokens.get(signal);
    const response = await sendOrFail(send, { method: 'GET', url, headers: { accept: 'application/json', ...headers, authorization: `Bearer ${token}` }, ...requestDefaults, signal });
    if (response.status !== 401 || attempt === 2) return response;
    tokens.invalidate();
  }
}

/** The JSON body of a 200 answer. */
export function jsonBody(service: string, response: HttpResponse): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(response.body.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new SourceFailure('protocol', `${service} answered 200 without a JSON object`);
}
