/**
 * JSON-RPC batches on the MCP endpoint. Protocol revision 2025-03-26 added
 * them to the Streamable HTTP transport and 2025-06-18 removed them again; no
 * other revision has them. A batch is refused where the revision has none,
 * and where it has, each message in it costs one token of the key's rate, as
 * it would sent alone: counting HTTP requests would let one request of 100
 * tool calls pass for one.
 */
import { SwitchboardError } from '../errors.ts';
import type { RateLimiter } from '../http/rate-limit.ts';

const BATCH_REVISIONS: ReadonlySet<string> = new Set(['2025-03-26']);

/**
 * Refuses a batch the revision has no batches for, and takes a token of the
 * key's rate for every message of a batch past the first (admission took the
 * first, as for any request).
 */
export function admitMessages(rateLimiter: RateLimiter, keyId: string, body: unknown, revision: string): void {
  if (!Array.isArray(body)) return;
  if (!BATCH_REVISIONS.has(revision)) {
    throw new SwitchboardError('MESSAGE_INVALID', `Protocol revision ${revision} has no JSON-RPC batches: send one message per request`);
  }
  // Waiting would never let a batch larger than a full bucket through.
  if (body.length > rateLimiter.burst) {
    throw new SwitchboardError('MESSAGE_INVALID', `This batch holds ${body.length} messages, more than this API key may send at once (${rateLimiter.burst}): send fewer per request`);
  }
  if (body.length > 1) rateLimiter.take(keyId, body.length - 1);
}
