/**
 * Counts every HTTP request by route template and status, and the MCP
 * requests and streams open right now by protocol era. The middleware has to
 * see requests that the host guard or the MCP endpoint refuse, so it is put
 * in front of every other handler of the app.
 *
 * Route labels are templates ("/ucp/v2/accounts/{account}/audit"), never the
 * concrete path, so an account id, a call id or a scanner's random URL never
 * becomes a series of its own.
 */
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';

import { MCP_PATH } from '../http/errors.ts';
import type { Metrics, ProtocolEra } from './metrics.ts';

const ACCOUNT_PREFIX = /^\/ucp\/v2\/accounts\/[^/]+/;
const ACCOUNT_TEMPLATE = '/ucp/v2/accounts/{account}';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const headerOf = (req: Request, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The route template a request matched, or a fixed label when it matched none. */
export function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') {
    return req.baseUrl.replace(ACCOUNT_PREFIX, ACCOUNT_TEMPLATE) + route.path.replace(/[:*](\w+)/g, '{$1}');
  }
  const path = req.originalUrl.split('?')[0] ?? '';
  if (path === MCP_PATH) return MCP_PATH;
  if (ACCOUNT_PREFIX.test(path)) return `${ACCOUNT_TEMPLATE}/*`;
  return 'unmatched';
}

/** 2026-07-28 clients send their version on every request; 2025-era ones after initialize, or not at all. */
export const eraOf = (req: Request): ProtocolEra => ((headerOf(req, 'mcp-protocol-version') ?? '') >= '2026' ? '2026' : '2025');

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.path === MCP_PATH) {
      const stream = req.method === 'GET' || headerOf(req, 'mcp-method') === 'subscriptions/listen';
      res.once('close', metrics.mcpOpened(eraOf(req), stream ? 'stream' : 'request'));
    }
    res.once('close', () => metrics.httpRequest(METHODS.has(req.method) ? req.method : 'OTHER', routeLabel(req), res.statusCode));
    next();
  };
}

/**
 * Adds a middleware in front of everything the app already has. Express has
 * no public "prepend"; its router stack is an array, and the middleware is
 * moved to its head. Returns false if the stack could not be found (then the
 * middleware runs after the routes mounted before it).
 */
export function mountFirst(app: Express, handler: RequestHandler): boolean {
  app.use(handler);
  const stack = (app as unknown as { router?: { stack?: unknown[] } }).router?.stack;
  if (!Array.isArray(stack) || stack.length < 2) return false;
  stack.unshift(stack.pop());
  return true;
}
