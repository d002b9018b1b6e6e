/**
 * The one place call control talks HTTP to a PBX: a single POST with a time
 * limit, no redirects, no automatic retries (the webhook driver decides
 * those) and a cap on the answer's size. Kept this small so it can move onto
 * the project's shared outbound client without touching the driver: the URL
 * comes from the operator's account.yaml (a PBX on the LAN is normal), so
 * that request would be made with redirects and retries off, and its failure
 * kinds mapped onto `not_sent` / `no_answer` as below.
 */
import got, { RequestError } from 'got';

export interface PbxAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Why a request got no usable HTTP answer. `not_sent`: the PBX cannot have
 * received it (no connection). `no_answer`: it may have (time-out, connection
 * lost after sending, an answer too large to read).
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

export async function postToPbx(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<PbxAnswer> {
  const request = got.post(url, {
    body,
    headers,
    timeout: { request: timeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
    ...(signal ? { signal } : {}),
  });
  request.on('downloadProgress', (progress) => {
    if (progress.transferred > MAX_ANSWER_BYTES) request.cancel('answer too large');
  });
  try {
    const response = await request;
    return { status: response.statusCode, headers: response.headers, body: response.body };
  } catch (error) {
    if (signal?.aborted) throw new PbxUnreachable('aborted', 'ABORTED');
    const code = error instanceof RequestError ? error.code || error.name : 'ANSWER_TOO_LARGE';
    // A refused connection or a certificate problem means the request never left.
    const notSent = NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS');
    throw new PbxUnreachable(notSent ? 'not_sent' : 'no_answer', code);
  }
}
