/**
 * The HTTP requests contact-source syncs make (OAuth token endpoints, the
 * People API, Microsoft Graph), and nothing else: one function with a
 * deadline per request, a cap on the response body, no redirects followed
 * and no retries (the scheduler decides when to try again).
 *
 * Its request and response shapes are those of the project's shared
 * outbound client (engine/outbound/client.ts), so syncs can move onto it by
 * swapping `send` for `services.outbound.request` (with `allowPrivate`: the
 * URLs come from the operator's account manifest).
 */
import type { IncomingHttpHeaders } from 'node:http';

import got, { type Response } from 'got';

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

export type HttpFailureKind = 'invalid_url' | 'timeout' | 'aborted' | 'too_large' | 'network';

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

export const send: Send = async (request) => {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new HttpFailure('invalid_url', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpFailure('invalid_url', `only http and https URLs can be requested, not ${url.protocol}`);
  const deadline = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
  const pending = got(url, {
    method: request.method,
    headers: { 'user-agent': `Switchboard/${VERSION}`, ...request.headers },
    ...(request.body === undefined ? {} : { body: request.body }),
    responseType: 'buffer',
    throwHttpErrors: false,
    followRedirect: false,
    retry: { limit: 0 },
    http2: false,
    signal,
  });
  let tooLarge = false;
  pending.on('downloadProgress', (progress) => {
    if (!tooLarge && ((progress.total ?? 0) > request.maxBytes || progress.transferred > request.maxBytes)) {
      tooLarge = true;
      pending.cancel();
    }
  });
  let response: Response<Buffer>;
  try {
    response = await pending;
  } catch (error) {
    if (tooLarge) throw new HttpFailure('too_large', `${url.host} answered with more than ${request.maxBytes} bytes`);
    if (deadline.aborted) throw new HttpFailure('timeout', `${url.host} did not answer within ${request.timeoutMs / 1000} s`);
    if (signal.aborted) throw new HttpFailure('aborted', `request to ${url.host} cancelled`);
    const code = (error as { code?: string }).code ?? 'ERR_NETWORK';
    throw new HttpFailure('network', `cannot reach ${url.host} (${code})`);
  }
  return { status: response.statusCode, headers: response.headers, body: response.body, url: response.url };
};
