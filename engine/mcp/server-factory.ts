/**
 * One low-level MCP `Server` per session (2025 era) or per request (2026-07-28
 * era), bound to one call context. Instances are never shared between clients
 * or concurrent requests; they only read the shared registry snapshot through
 * the dispatcher, so building one costs two handler registrations.
 */
import { Server } from '@modelcontextprotocol/server';

import type { ProgressSink, ToolDispatcher } from '../tools/dispatch.ts';
import { VERSION } from '../version.ts';
import type { CallContext } from '../vocabulary/call-context.ts';

const SERVER_INFO = { name: 'switchboard', title: 'Switchboard', version: VERSION };

const INSTRUCTIONS =
  'Call-handling tools for the phone call in progress: transfer the call, end it, check office hours, look up the caller, check whether a colleague is available, and record a lead. Tool results are short sentences meant to be relayed to the caller.';

export type ServerFactory = (call: CallContext) => Server;

type RequestContext = { _meta?: { progressToken?: string | number } | undefined; notify: (notification: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void> };

/** Progress notifications for a request whose client sent a progress token; none otherwise. */
function progressSink(request: RequestContext): ProgressSink | undefined {
  const token = request._meta?.progressToken;
  if (token === undefined) return undefined;
  let progress = 0;
  return (message) => {
    progress += 1;
    request.notify({ method: 'notifications/progress', params: { progressToken: token, progress, message } }).catch(() => undefined);
  };
}

export function serverFactory(dispatcher: ToolDispatcher): ServerFactory {
  return (call) => {
    const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS });
    server.setRequestHandler('tools/list', () => dispatcher.list(call));
    server.setRequestHandler('tools/call', (request, ctx) => dispatcher.call(call, request.params.name, request.params.arguments, ctx.mcpReq.signal, progressSink(ctx.mcpReq)));
    return server;
  };
}
