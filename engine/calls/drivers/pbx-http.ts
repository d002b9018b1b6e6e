/**
 * The one place call control talks HTTP to a PBX: a single POST through the
 * project's outbound client (SSRF guard, deadline, answer size cap), with
 * redirects and automatic retries off: the webhook driver decides retries,
 * because only it knows whether a command may have arrived. A PBX on a
 * private address is reached only when the operator allows it
 * (SWITCHBOARD_OUTBOUND_ALLOW), like every other internal host.
 */
import { OutboundError, type OutboundClient } from '../../outbound/client.ts';

export interface PbxAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Why a request got no usable HTTP answer. `not_sent`: the PBX cannot have
 * received it (no connection, address not allowed). `no_answer`: it may have
 * (time-out, connection lost after sending, an answer too large to read).
 */
export class PbxUnreachable extends Error {
  constructor(
    readonly kind: 'not_sent' | 'no_answer' | 'aborted',
    readonly code: string,
  ) {
    super(`${kind} (${code})`);
    this.name = 'PbxUnreachable';
  }
}

const MAX_ANSWER_BYTES = 64 * 1024;
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export async function postToPbx(outbound: OutboundClient, url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<PbxAnswer> {
  try {
    const response = await outbound.request({ method: 'POST', url, headers, body, timeoutMs, maxBytes: MAX_ANSWER_BYTES, retries: 0, maxRedirects: 0, purpose: 'webhook', ...(signal ? { signal } : {}) });
    return { status: response.status, headers: response.headers, body: response.body.toString('utf8') };
  } catch (error) {
    if (!(error instanceof OutboundError)) throw error;
    if (error.kind === 'aborted') throw new PbxUnreachable('aborted', 'ABORTED');
    if (error.kind === 'refused') throw new PbxUnreachable('not_sent', 'ADDRESS_NOT_ALLOWED');
    if (error.kind === 'invalid_url') throw new PbxUnreachable('not_sent', 'INVALID_URL');
    const code = error.details.code ?? error.kind.toUpperCase();
    // A refused connection or a certificate problem means the request never left.
    const notSent = error.kind === 'network' && (NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS'));
    throw new PbxUnreachable(notSent ? 'not_sent' : 'no_answer', code);
  }
}
