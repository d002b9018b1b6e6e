/**
 * `/ucp/v2/mcp`: one endpoint for every MCP client.
 *
 * - A request that carries a known `Mcp-Session-Id` goes straight to its
 *   session, after the key and the context headers are checked against what
 *   the session was opened with. No era classification on this hot path.
 * - An `initialize` without a session id opens a 2025-era session (clients
 *   that open a new session for every tool call take this path each time).
 * - Everything else (2026-07-28 requests, session-less 2025 requests) goes to
 *   the persona's stateless handler.
 *
 * The key is checked by `admitKey`, which the app mounts before the body
 * parser: a client without a valid key never gets a body read. The key's
 * rate counts JSON-RPC messages, so a batch costs what its messages would
 * cost one by one.
 */
import type { NextFunction, Request, Response } from 'express';

import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION, isInitializeRequest } from '@modelcontextprotocol/server';

import type { ApiKeyRecord, ApiKeyStore } from '../auth/api-keys.ts';
import { SwitchboardError } from '../errors.ts';
import type { AuthFailureLimiter } from '../http/auth-failures.ts';
import { authenticate, matchesBinding, readPartialContext, resolveCallContext } from '../http/call-context.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import type { Registry } from '../manifests/registry.ts';
import { personaKey } from '../manifests/entries.ts';
import { admitMessages } from './batches.ts';
import type { SessionManager } from './sessions.ts';
import type { StatelessHandlers } from './stateless.ts';

export interface McpEndpointDeps {
  keys: ApiKeyStore;
  registry: Registry;
  sessions: SessionManager;
  stateless: StatelessHandlers;
  rateLimiter: RateLimiter;
  /** Failed keys per client address; without it failures are not counted. */
  authFailures?: AuthFailureLimiter;
  /** False while shutting down: new sessions and requests are refused with 503. */
  accepting: () => boolean;
}

const sessionIdOf = (req: Request): string | undefined => {
  const raw = req.headers['mcp-session-id'];
  return Array.isArray(raw) ? raw[0] : raw;
};

const headerOf = (req: Request, name: string): string | undefined => {
  const raw = req.headers[name];
  return Array.isArray(raw) ? raw[0] : raw;
};

/** What every MCP request passes first, on either transport: not shutting down, a valid key, one message of the key's rate. */
export async function admit(deps: Pick<McpEndpointDeps, 'accepting' | 'keys' | 'rateLimiter' | 'authFailures'>, req: Request): Promise<ApiKeyRecord> {
  if (!deps.accepting()) throw new SwitchboardError('SHUTTING_DOWN', 'The server is shutting down; retry on another node or shortly', { retryAfter: 5 });
  const key = await authenticate(req, deps.keys, 'mcp', deps.authFailures);
  deps.rateLimiter.take(key.id);
  return key;
}

/**
 * `admit` as a handler in front of the body parser; the key is kept for the
 * endpoint in `res.locals`. Express 5 hands a rejection to the error handler.
 */
export function admitKey(deps: Pick<McpEndpointDeps, 'accepting' | 'keys' | 'rateLimiter' | 'authFailures'>) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    res.locals.mcpKey = await admit(deps, req);
    next();
  };
}

/** The key `admitKey` admitted the request with. */
export function admittedKey(res: Response): ApiKeyRecord {
  const key = res.locals.mcpKey as ApiKeyRecord | undefined;
  if (!key) throw new Error('MCP request without an admitted key: admitKey must run before the endpoint');
  return key;
}

export function mcpEndpoint(deps: McpEndpointDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const key = admittedKey(res);
    const partial = readPartialContext(req.headers);
    const body: unknown = req.body;

    const sessionId = sessionIdOf(req);
    if (sessionId) {
      const session = deps.sessions.find(sessionId, 'streamable');
      if (!session) throw new SwitchboardError('SESSION_NOT_FOUND', 'Session not found; start a new session with initialize');
      if (!matchesBinding(session.call, key, partial)) {
        throw new SwitchboardError('SESSION_BINDING', 'This session belongs to another API key or call context');
      }
      // The revision the session negotiated, not the header: a client must not opt back into batches by leaving it out.
      admitMessages(deps.rateLimiter, key.id, body, session.protocolVersion);
      await deps.sessions.handle(session, req, res, body);
      return;
    }

    const call = resolveCallContext(partial, key, deps.registry.current());
    if (req.method === 'POST' && isInitializeRequest(body)) {
      await deps.sessions.open(call, req, res, body);
      return;
    }
    if (req.method === 'DELETE') {
      throw new SwitchboardError('SESSION_REQUIRED', 'DELETE needs the Mcp-Session-Id header of the session to end');
    }
    // Without a session the header names the revision; without one either, MCP says to assume 2025-03-26.
    admitMessages(deps.rateLimiter, key.id, body, headerOf(req, 'mcp-protocol-version') ?? DEFAULT_NEGOTIATED_PROTOCOL_VERSION);
    if ((body as { method?: unknown } | undefined)?.method === 'subscriptions/listen') deps.sessions.holdStream(call, res);
    await deps.stateless.handle(personaKey(call.accountId, call.personaId), call, req, res, body);
  };
}
