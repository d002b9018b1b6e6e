/**
 * The list of what each capability adds to a running server: admin routes
 * under /ucp/v2/accounts/{account}/…, routes at the root, background jobs and
 * tool-call observers. server.ts mounts whatever is listed here.
 */
import type { Express } from 'express';

import type { AppContext, BackgroundJob } from './app-context.ts';
import { auditExtension } from './audit/extension.ts';
import type { AdminRoutes } from './http/app.ts';
import { observabilityExtension } from './observability/extension.ts';

export interface ServerExtensions {
  adminRoutes: AdminRoutes[];
  rootRoutes: ((app: Express) => void)[];
  jobs: BackgroundJob[];
}

export function serverExtensions(context: AppContext): ServerExtensions {
  const observability = observabilityExtension(context);
  const audit = auditExtension(context);
  return {
    adminRoutes: [...audit.adminRoutes],
    rootRoutes: [...observability.rootRoutes],
    jobs: [...audit.jobs],
  };
}
