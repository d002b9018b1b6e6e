/**
 * Turns anything thrown in a route into the answer its client understands:
 * a JSON-RPC error envelope on the MCP endpoint, `{ error: { code, message } }`
 * elsewhere. Unknown errors are logged and answered as INTERNAL without detail.
 */
import type { NextFunction, Request, Response } from 'express';

import { errorBody, isSwitchboardError, jsonRpcErrorBody, SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Body-parser and other framework errors mapped onto the catalogue. */
export function toSwitchboardError(error: unknown): SwitchboardError | undefined {
  if (isSwitchboardError(error)) return error;
  const parserError = error as BodyParserError;
  switch (parserError?.type) {
    case 'entity.too.large':
      return new SwitchboardError('BODY_TOO_LARGE', 'Request body is too large');
    case 'entity.parse.failed':
      return new SwitchboardError('BODY_INVALID_JSON', 'Parse error: the body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new SwitchboardError('BAD_REQUEST', 'Unsupported body encoding');
    default:
      return undefined;
  }
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
    if (res.headersSent) {
      res.end();
      return;
    }
    if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
    const body = isMcpPath(req.path) ? jsonRpcErrorBody(failure, rpcIdOf(req.body)) : errorBody(failure);
    res.status(failure.status).json(body);
  };
}

const rpcIdOf = (body: unknown): string | number | null => {
  const id = (body as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
};
