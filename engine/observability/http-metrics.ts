/**
 * Counts every HTTP request by route template and status, and the MCP
 * requests and streams open right now by protocol era. The middleware has to
 * see requests that the host guard or the MCP endpoint refuse, so the app
 * mounts it before every other handler (ServerExtensions.firstMiddleware).
 *
 * Route labels are templates ("/ucp/v2/accounts/{account}/audit"), never the
 * concrete path, so an account id, a call id or a scanner's random URL never
 * becomes a series of its own.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

import { isMcpPath, MCP_PATH } from '../http/errors.ts';
import type { Metrics, ProtocolEra } from './metrics.ts';

const ACCOUNT_PREFIX = /^\/ucp\/v2\/accounts\/[^/]+/;
const ACCOUNT_TEMPLATE = '/ucp/v2/accounts/{account}';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const headerOf = (req: Request, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Labels of matched routes, by route object and mount point: computed once, not per request. */
const labels = new WeakMap<object, Map<string, string>>();

/** The route template a request matched, or a fixed label when it matched none. */
export function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') {
    let byBase = labels.get(route);
    if (!byBase) labels.set(route, (byBase = new Map()));
    // Keyed by the concrete mount point: only authenticated admin requests match routes under an account.
    let label = byBase.get(req.baseUrl);
    if (label === undefined) byBase.set(req.baseUrl, (label = req.baseUrl.replace(ACCOUNT_PREFIX, ACCOUNT_TEMPLATE) + route.path.replace(/[:*](\w+)/g, '{$1}')));
    return label;
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
    const closeMcp = isMcpPath(req.path) ? metrics.mcpOpened(eraOf(req), req.method === 'GET' || headerOf(req, 'mcp-method') === 'subscriptions/listen' ? 'stream' : 'request') : undefined;
    res.once('close', () => {
      closeMcp?.();
      metrics.httpRequest(METHODS.has(req.method) ? req.method : 'OTHER', routeLabel(req), res.statusCode);
    });
    next();
  };
}
