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

/** The MCP endpoint, with or without the call context in its path. */
export const isMcpPath = (path: string): boolean => path === MCP_PATH || path.startsWith(`${MCP_PATH}/`);

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
