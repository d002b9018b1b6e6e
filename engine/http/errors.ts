/**
 * Turns anything thrown in a route into the answer its client understands:
 * a JSON-RPC error envelope on the MCP endpoint, `{ error: { code, message } }`
 * elsewhere. Unknown errors are logged and answered as INTERNAL without detail.
 *
 * What the framework raises about the request itself (a body that does not
 * parse, a path whose percent-encoding does not decode, a client that went
 * away mid-body) is the client's doing: it maps onto a 4xx code of the
 * catalogue and is never logged as a fault of the server.
 */
import type { NextFunction, Request, Response } from 'express';

import { errorBody, isSwitchboardError, jsonRpcErrorBody, SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';

interface FrameworkError {
  type?: string;
  status?: number;
}

/** Body-parser and other framework errors mapped onto the catalogue. */
export function toSwitchboardError(error: unknown): SwitchboardError | undefined {
  if (isSwitchboardError(error)) return error;
  const framework = error as FrameworkError | undefined;
  switch (framework?.type) {
    case 'entity.too.large':
      return new SwitchboardError('BODY_TOO_LARGE', 'Request body is too large');
    case 'entity.parse.failed':
      return new SwitchboardError('BODY_INVALID_JSON', 'Parse error: the body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new SwitchboardError('BAD_REQUEST', 'Unsupported body encoding');
    case 'request.aborted':
      return new SwitchboardError('REQUEST_ABORTED', 'The client stopped sending its request');
    default:
      break;
  }
  // The router decodes path parameters and marks what does not decode as the client's error.
  if (error instanceof URIError) return new SwitchboardError('BAD_REQUEST', 'The URL path holds a malformed percent-encoding (% must be followed by two hex digits of UTF-8)');
  const status = framework?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return new SwitchboardError('BAD_REQUEST', 'The request is malformed');
  return undefined;
}

export const MCP_PATH = '/ucp/v2/mcp';
/** The stream of the 2024-11-05 HTTP+SSE transport, for clients that speak nothing newer; also where they POST. */
export const LEGACY_SSE_PATH = '/ucp/v2/sse';

const under = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

/** The MCP endpoint or the legacy SSE one, with or without the call context in the path: errors there are JSON-RPC. */
export const isMcpPath = (path: string): boolean => under(path, MCP_PATH) || under(path, LEGACY_SSE_PATH);

export function errorHandler(log: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const known = toSwitchboardError(error);
    const failure = known ?? new SwitchboardError('INTERNAL', 'Internal server error');
    if (!known) log.error({ err: error, method: req.method, path: req.path }, 'request failed');
    else if (failure.status >= 500) log.warn({ code: failure.code, path: req.path }, failure.message);
    if (failure.code === 'REQUEST_ABORTED') {
      // Nobody is left to answer: one line, no stack (a dropped connection, or past --request-timeout-seconds).
      log.info({ event: 'request_aborted', method: req.method, path: req.path }, 'a client stopped sending its request');
      res.destroy();
      return;
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
    // Refused before its body was read (no key, say): close the connection after the answer rather than
    // wait for a body nobody will read, which a client could hold back until the request timeout.
    const sendsBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (sendsBody && !req.complete) res.setHeader('Connection', 'close');
    const body = isMcpPath(req.path) ? jsonRpcErrorBody(failure, rpcIdOf(req.body)) : errorBody(failure);
    res.status(failure.status).json(body);
  };
}

const rpcIdOf = (body: unknown): string | number | null => {
  const id = (body as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
};
