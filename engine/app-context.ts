/**
 * Everything a running server is made of, handed to the capabilities that
 * mount admin routes or run background jobs.
 */
import type { ServerSettings } from './config.ts';
import type { AuthFailureLimiter } from './http/auth-failures.ts';
import type { Registry } from './manifests/registry.ts';
import type { SessionManager } from './mcp/sessions.ts';
import type { StatelessHandlers } from './mcp/stateless.ts';
import type { Services } from './services.ts';
import type { ToolDispatcher } from './tools/dispatch.ts';

export type { BackgroundJob } from './vocabulary/jobs.ts';

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
