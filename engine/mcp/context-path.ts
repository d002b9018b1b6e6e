/**
 * The call context in the URL, for voice platforms that can be given one URL
 * per call but no per-call headers:
 *
 *   /ucp/v2/mcp/accounts/{account_id}/personas/{persona_id}/calls/{call_id}?caller_id_number=…
 *
 * It is the same endpoint as /ucp/v2/mcp: the path values become the context
 * headers, checked exactly like them. The API key stays in a header, never in
 * the URL (URLs end up in logs). A context header sent as well must agree with
 * the path, or the request is refused. The legacy SSE endpoint takes the
 * same form under /ucp/v2/sse.
 */
import type { NextFunction, Request, Response } from 'express';

import { SwitchboardError } from '../errors.ts';
import { LEGACY_SSE_PATH, MCP_PATH } from '../http/errors.ts';
import { readContextHeader, type ContextHeader } from '../http/call-context.ts';
import type { CallContext } from '../vocabulary/call-context.ts';

const CONTEXT_TEMPLATE = '/accounts/:account_id/personas/:persona_id/calls/:call_id';
export const MCP_CONTEXT_PATH = `${MCP_PATH}${CONTEXT_TEMPLATE}`;
export const LEGACY_SSE_CONTEXT_PATH = `${LEGACY_SSE_PATH}${CONTEXT_TEMPLATE}`;

/** The path of a call context under `base`, values percent-encoded (a call id may hold "/" or "@"). */
export const contextPathOf = (base: string, call: Pick<CallContext, 'accountId' | 'personaId' | 'callId'>): string =>
  `${base}/accounts/${encodeURIComponent(call.accountId)}/personas/${encodeURIComponent(call.personaId)}/calls/${encodeURIComponent(call.callId)}`;

function adopt(req: Request, name: ContextHeader, value: string): void {
  // Finds a header sent under any of its names, then validates the value as the header would be.
  const sent = readContextHeader(req.headers, name);
  readContextHeader({ [name]: value }, name);
  req.headers[name] = value;
  if (sent !== undefined && sent !== value) {
    throw new SwitchboardError('CONTEXT_HEADER_INVALID', `The ${name} header (${sent}) differs from the ${name} in the URL (${value}); send one or make them agree`, { details: { header: name } });
  }
}

export function contextFromPath(req: Request, _res: Response, next: NextFunction): void {
  for (const name of ['account_id', 'persona_id', 'call_id'] as const) adopt(req, name, String(req.params[name]));
  const caller = req.query.caller_id_number;
  if (caller !== undefined) {
    if (typeof caller !== 'string') throw new SwitchboardError('CONTEXT_HEADER_INVALID', 'caller_id_number may be given once in the URL', { details: { header: 'caller_id_number' } });
    adopt(req, 'caller_id_number', caller);
  }
  next();
}
