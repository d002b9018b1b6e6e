/**
 * Everything a running server is made of. Only the assembly knows it whole:
 * server.ts builds it and capabilities.ts hands each capability the part
 * its own *Context type names (routes, jobs and extensions never import
 * this file; .dependency-cruiser.cjs holds it).
 */
import type { ServerSettings } from './config.ts';
import type { AuthFailureLimiter } from './http/auth-failures.ts';
import type { Registry } from './manifests/registry.ts';
import type { SessionManager } from './mcp/sessions.ts';
import type { StatelessHandlers } from './mcp/stateless.ts';
import type { Services } from './services.ts';
import type { ToolDispatcher } from './tools/dispatch.ts';

export interface AppContext {
  settings: ServerSettings;
  services: Services;
  registry: Registry;
  sessions: SessionManager;
  stateless: StatelessHandlers;
  dispatcher: ToolDispatcher;
  /** Failed authentications per client address, for every route that checks a credential. */
  authFailures: AuthFailureLimiter;
}
