/**
 * `/ucp/v2/sse`: the 2024-11-05 HTTP+SSE transport beside the Streamable HTTP
 * endpoint, as the MCP specification's backwards-compatibility section has
 * servers do, for voice platforms and bridges that speak nothing newer.
 *
 * - GET opens a session: the same key, rate limit and context checks as
 *   /ucp/v2/mcp (the key checked before any body is read, by the same
 *   `admitKey`), then the response becomes the session's event stream.
 * - POST `?sessionId=…` (the URL the stream's `endpoint` event names) takes
 *   one JSON-RPC message and answers 202; the answer travels on the stream.
 *   The POST must carry the key the session was opened with, and any context
 *   it sends must be the session's, exactly like a request on a Streamable
 *   HTTP session.
 *
 * Both take the call context in the path as well (/ucp/v2/sse/accounts/…);
 * a stream opened that way names a POST URL of the same form. Refusals before
 * the stream opens are the MCP endpoint's JSON-RPC error answers.
 *
 * A session takes requests before `initialize`. The transport has no
 * resumption: when a stream drops (a proxy restart, a network blip),
 * EventSource-based clients reconnect by themselves and POST to the new
 * session's URL without initializing again (the v1 TypeScript SDK does so).
 * Refusing them would leave the agent without tools for the rest of the call;
 * the new session is checked and bound like any other.
 */
import type { Request, Response } from 'express';

import { parseJSONRPCMessage, type JSONRPCMessage } from '@modelcontextprotocol/server';

import { SwitchboardError } from '../errors.ts';
import { matchesBinding, readPartialContext, resolveCallContext } from '../http/call-context.ts';
import { LEGACY_SSE_PATH, MCP_PATH } from '../http/errors.ts';
import { contextPathOf } from './context-path.ts';
import { admittedKey, type McpEndpointDeps } from './endpoint.ts';

/** The body of a POST as one JSON-RPC message, or MESSAGE_INVALID naming what to send. */
function messageOf(body: unknown): JSONRPCMessage {
  if (body === undefined || body === null) {
    throw new SwitchboardError('MESSAGE_INVALID', 'Send one JSON-RPC message as the body, with Content-Type: application/json');
  }
  if (Array.isArray(body)) throw new SwitchboardError('MESSAGE_INVALID', 'Send one JSON-RPC message per POST; batches are not accepted');
  try {
    return parseJSONRPCMessage(body);
  } catch {
    throw new SwitchboardError('MESSAGE_INVALID', 'The body is not a JSON-RPC 2.0 message: send "jsonrpc": "2.0" with a method (and an id for a request), or the id and result or error of an answer');
  }
}

function sessionIdOf(req: Request): string {
  const raw = req.query.sessionId;
  if (raw === undefined || raw === '') {
    throw new SwitchboardError('SESSION_REQUIRED', `POST needs the sessionId the stream's endpoint event names: open the stream with GET ${LEGACY_SSE_PATH} first (Streamable HTTP clients use ${MCP_PATH})`);
  }
  if (typeof raw !== 'string') throw new SwitchboardError('SESSION_REQUIRED', 'sessionId may be given once in the URL');
  return raw;
}

export function legacySseEndpoint(deps: McpEndpointDeps) {
  const stream = async (req: Request, res: Response): Promise<void> => {
    const key = admittedKey(res);
    const call = resolveCallContext(readPartialContext(req.headers), key, deps.registry.current());
    // A stream opened with the context in the path names a POST URL in the same form.
    const endpoint = req.params.account_id === undefined ? LEGACY_SSE_PATH : contextPathOf(LEGACY_SSE_PATH, call);
    await deps.sessions.openSse(call, res, endpoint);
  };

  const message = (req: Request, res: Response): void => {
    const key = admittedKey(res);
    const partial = readPartialContext(req.headers);
    const session = deps.sessions.find(sessionIdOf(req), 'sse');
    if (!session) throw new SwitchboardError('SESSION_NOT_FOUND', 'Session not found; open a new stream with GET');
    if (!matchesBinding(session.call, key, partial)) {
      throw new SwitchboardError('SESSION_BINDING', 'This session belongs to another API key or call context');
    }
    deps.sessions.deliver(session, messageOf(req.body));
    res.status(202).end();
  };

  return { stream, message };
}
