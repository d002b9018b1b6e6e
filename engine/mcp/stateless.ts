/**
 * The stateless path: 2026-07-28 clients (server/discover, subscriptions/listen,
 * the Mcp-Method / Mcp-Name header checks) and 2025-era requests that carry no
 * session. Each persona gets its own SDK handler, so a tool-list change is
 * published only on the subscription streams of that persona's clients. Every
 * request still gets a fresh `Server` from the factory: nothing is shared
 * between requests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { toNodeHandler, type NodeMcpRequestHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, type AuthInfo, type McpHttpHandler } from '@modelcontextprotocol/server';

import type { Logger } from '../logging.ts';
import type { CallContext } from '../vocabulary/call-context.ts';
import type { ServerFactory } from './server-factory.ts';

interface PersonaHandler {
  handler: McpHttpHandler;
  node: NodeMcpRequestHandler;
}

/** The call context travels to the factory inside the request's AuthInfo. */
export const authInfoFor = (call: CallContext): AuthInfo => ({ token: '', clientId: call.keyId, scopes: [], extra: { call } });

const callFrom = (authInfo: AuthInfo | undefined): CallContext => {
  const call = authInfo?.extra?.call as CallContext | undefined;
  if (!call) throw new Error('stateless MCP request without call context');
  return call;
};

export class StatelessHandlers {
  private readonly handlers = new Map<string, PersonaHandler>();

  constructor(
    private readonly createServer: ServerFactory,
    private readonly maxRequestBodySize: number,
    private readonly log: Logger,
  ) {}

  private handlerFor(personaKey: string): PersonaHandler {
    let entry = this.handlers.get(personaKey);
    if (!entry) {
      const onerror = (error: Error) => this.log.debug({ err: error, event: 'mcp_request_error' }, 'stateless MCP request error');
      const handler = createMcpHandler(({ authInfo }) => this.createServer(callFrom(authInfo)), {
        legacy: 'stateless',
        maxRequestBodySize: this.maxRequestBodySize,
        onerror,
      });
      entry = { handler, node: toNodeHandler(handler, { onerror, maxRequestBodySize: this.maxRequestBodySize }) };
      this.handlers.set(personaKey, entry);
    }
    return entry;
  }

  async handle(personaKey: string, call: CallContext, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoFor(call);
    await this.handlerFor(personaKey).node(req as IncomingMessage & { auth?: AuthInfo }, res, body);
  }

  /** Publishes tools/list_changed on the subscription streams of these personas. */
  notifyToolsChanged(personaKeys: Iterable<string>): void {
    for (const key of personaKeys) this.handlers.get(key)?.handler.notify.toolsChanged();
  }

  /** Ends the subscription streams of removed personas. */
  async remove(personaKeys: Iterable<string>): Promise<void> {
    for (const key of personaKeys) {
      const entry = this.handlers.get(key);
      if (!entry) continue;
      this.handlers.delete(key);
      entry.handler.notify.toolsChanged();
      await entry.handler.close();
    }
  }

  get subscriptionHandlers(): number {
    return this.handlers.size;
  }

  async closeAll(): Promise<void> {
    const entries = [...this.handlers.values()];
    this.handlers.clear();
    await Promise.all(entries.map((entry) => entry.handler.close()));
  }
}
