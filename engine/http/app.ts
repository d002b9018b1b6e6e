/**
 * The HTTP application: guards first (Host/Origin), then the MCP endpoint
 * (and the legacy SSE one), the health endpoints and the admin API, then one
 * error handler.
 *
 * Bodies are read only after the key is checked: every keyed route runs its
 * key check, then the JSON parser (size and nesting bounds), then its
 * handler. A client without a valid key is answered from its headers and
 * never gets a body read, however long it takes to send one.
 */
import express, { type Express, type RequestHandler } from 'express';

import type { ApiKeyStore } from '../auth/api-keys.ts';
import type { Logger } from '../logging.ts';
import { contextFromPath, LEGACY_SSE_CONTEXT_PATH, MCP_CONTEXT_PATH } from '../mcp/context-path.ts';
import { admitKey, mcpEndpoint, type McpEndpointDeps } from '../mcp/endpoint.ts';
import { legacySseEndpoint } from '../mcp/sse-endpoint.ts';
import type { AdminRoutes, AppRoutes } from '../vocabulary/routes.ts';
import { rememberAdminKey } from './admin-key.ts';
import { authenticate, assertKeyAccount } from './call-context.ts';
import { errorHandler, LEGACY_SSE_PATH, MCP_PATH } from './errors.ts';
import { healthRoutes, type HealthDeps } from './health.ts';
import { hostGuard } from './host-guard.ts';
import { jsonDepthGuard } from './json-depth.ts';
import { SwitchboardError } from '../errors.ts';

export interface AppDeps extends McpEndpointDeps, Omit<HealthDeps, 'sessions'> {
  log: Logger;
  bindHost: string;
  allowedHosts: string[];
  allowedOrigins: string[];
  bodyLimitBytes: number;
  adminRoutes: AdminRoutes[];
  /** Routes outside the account tree (e.g. /metrics). */
  rootRoutes?: AppRoutes[];
  /** Routes that read their own raw body (signed callbacks of phone systems): mounted before the JSON parser. */
  rawBodyRoutes?: AppRoutes[];
  /** Handlers in front of everything else (request metrics). */
  firstMiddleware?: RequestHandler[];
}

export function adminGuard(keys: ApiKeyStore, rateLimiter: McpEndpointDeps['rateLimiter'], authFailures?: McpEndpointDeps['authFailures']) {
  return async (req: express.Request, res: express.Response, next: express.NextFunction): Promise<void> => {
    const record = await authenticate(req, keys, 'admin', authFailures);
    rateLimiter.take(record.id);
    assertKeyAccount(record, String(req.params.account), 'the path');
    rememberAdminKey(res, record);
    next();
  };
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  for (const handler of deps.firstMiddleware ?? []) app.use(handler);
  app.use(hostGuard({ bindHost: deps.bindHost, allowedHosts: deps.allowedHosts, allowedOrigins: deps.allowedOrigins }));
  for (const mount of deps.rawBodyRoutes ?? []) mount(app);
  const json = [express.json({ limit: deps.bodyLimitBytes, type: ['application/json', 'application/*+json'] }), jsonDepthGuard()];

  const mcp = mcpEndpoint(deps);
  const key = admitKey(deps);
  const methodNotAllowed = () => {
    throw new SwitchboardError('METHOD_NOT_ALLOWED', 'Use POST, GET or DELETE on the MCP endpoint');
  };
  app.post(MCP_PATH, key, json, mcp);
  app.get(MCP_PATH, key, mcp);
  app.delete(MCP_PATH, key, mcp);
  app.all(MCP_PATH, methodNotAllowed);
  // The same endpoint with the call context in the path, for platforms that cannot send per-call headers.
  app.post(MCP_CONTEXT_PATH, contextFromPath, key, json, mcp);
  app.get(MCP_CONTEXT_PATH, contextFromPath, key, mcp);
  app.delete(MCP_CONTEXT_PATH, contextFromPath, key, mcp);
  app.all(MCP_CONTEXT_PATH, methodNotAllowed);
  // The 2024-11-05 HTTP+SSE transport, for clients that speak nothing newer: GET opens the stream, POST sends.
  const sse = legacySseEndpoint(deps);
  const sseMethodNotAllowed = () => {
    throw new SwitchboardError('METHOD_NOT_ALLOWED', 'Use GET to open the stream and POST to send messages on the legacy SSE endpoint');
  };
  app.get(LEGACY_SSE_PATH, key, sse.stream);
  app.post(LEGACY_SSE_PATH, key, json, sse.message);
  app.all(LEGACY_SSE_PATH, sseMethodNotAllowed);
  app.get(LEGACY_SSE_CONTEXT_PATH, contextFromPath, key, sse.stream);
  app.post(LEGACY_SSE_CONTEXT_PATH, contextFromPath, key, json, sse.message);
  app.all(LEGACY_SSE_CONTEXT_PATH, sseMethodNotAllowed);

  healthRoutes(app, deps);
  for (const mount of deps.rootRoutes ?? []) mount(app);

  const admin = express.Router({ mergeParams: true });
  admin.use(adminGuard(deps.keys, deps.rateLimiter, deps.authFailures), json);
  for (const mount of deps.adminRoutes) mount(admin);
  app.use('/ucp/v2/accounts/:account', admin);

  app.use(() => {
    throw new SwitchboardError('NOT_FOUND', 'No such endpoint');
  });
  app.use(errorHandler(deps.log));
  return app;
}
