/**
 * The HTTP requests contact-source syncs make (OAuth token endpoints, the
 * People API, Microsoft Graph), through the project's outbound client: the
 * SSRF guard (an api_base_url or token_url on a private address needs the
 * operator's SWITCHBOARD_OUTBOUND_ALLOW), a deadline per request, a cap on
 * the response body, no redirects followed and no retries (the scheduler
 * decides when to try again).
 */
import type { IncomingHttpHeaders } from 'node:http';

import { OutboundError, type OutboundClient } from '../../outbound/client.ts';
import { VERSION } from '../../version.ts';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: string;
}

export type HttpFailureKind = 'invalid_url' | 'refused' | 'timeout' | 'aborted' | 'too_large' | 'network';

/** No usable response. The message names the host and the cause, never a header value or a body. */
export class HttpFailure extends Error {
  constructor(
    readonly kind: HttpFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

export type Send = (request: HttpRequest) => Promise<HttpResponse>;

/** A Send over the shared outbound client; its failures become HttpFailure. */
export function sendThrough(outbound: OutboundClient): Send {
  return async (request) => {
    try {
      const response = await outbound.request({
        method: request.method,
        url: request.url,
        headers: { 'user-agent': `Switchboard/${VERSION}`, ...request.headers },
        ...(request.body === undefined ? {} : { body: request.body }),
        timeoutMs: request.timeoutMs,
        maxBytes: request.maxBytes,
        retries: 0,
        maxRedirects: 0,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      return { status: response.status, headers: response.headers, body: response.body, url: response.url };
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      const kind: HttpFailureKind = error.kind === 'redirects' ? 'network' : error.kind;
      const host = URL.canParse(request.url) ? new URL(request.url).host : 'the configured URL';
      throw new HttpFailure(kind, error.message.includes(host) ? error.message : `${host}: ${error.message}`);
    }
  };
}
