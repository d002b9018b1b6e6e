/**
 * The JSON body of an admin request. express.json reads only JSON content
 * types; a body sent as anything else stays unread, and taking it for "no
 * body" would silently drop what the client asked for (a full sync, the
 * reason a call ended). Such a request is refused instead, naming what to send.
 */
import type { Request } from 'express';

import { SwitchboardError } from '../errors.ts';

/** The parsed body, or undefined when none was sent; BAD_REQUEST for a body that is not JSON. */
export function jsonBody(req: Request): unknown {
  const sent = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (req.body === undefined && sent) throw new SwitchboardError('BAD_REQUEST', 'body: send it as JSON with Content-Type: application/json', { details: { field: 'body' } });
  return req.body;
}
