/**
 * The list of what each capability adds to a running server: admin routes
 * under /ucp/v2/accounts/{account}/…, routes at the root (the console's page
 * among them), routes before the JSON parser, first middleware and
 * background jobs. server.ts mounts whatever is listed here. Each
 * capability takes a narrow view of the server (its own *Context type), so
 * only this file and server.ts know the whole AppContext.
 */
import type { RequestHandler } from 'express';

import type { AppContext } from './app-context.ts';
import { auditExtension } from './audit/extension.ts';
import { callControlExtension } from './calls/extension.ts';
import { consoleExtension } from './console/extension.ts';
import { contactAdminRoutes } from './contacts/admin-routes.ts';
import { contactSourceAdminRoutes } from './contacts/sources/admin-routes.ts';
import { ContactSourceScheduler } from './contacts/sources/scheduler.ts';
import { openapiRoutes } from './http/openapi-route.ts';
import { leadAdminRoutes } from './leads/admin-routes.ts';
import { observabilityExtension } from './observability/extension.ts';
import { dndAdminRoutes } from './users/dnd-routes.ts';
import type { BackgroundJob } from './vocabulary/jobs.ts';
import type { AdminRoutes, AppRoutes } from './vocabulary/routes.ts';

export interface ServerExtensions {
  /** Handlers in front of everything else, the host guard included. */
  firstMiddleware: RequestHandler[];
  adminRoutes: AdminRoutes[];
  rootRoutes: AppRoutes[];
  /** Root routes that read their own raw body (signed callbacks), mounted before the JSON parser. */
  rawBodyRoutes: AppRoutes[];
  jobs: BackgroundJob[];
}

export function serverExtensions(context: AppContext): ServerExtensions {
  const observability = observabilityExtension(context);
  const audit = auditExtension(context);
  const calls = callControlExtension(context);
  const contactSync = new ContactSourceScheduler(context);
  const console = consoleExtension(context);
  return {
    firstMiddleware: [...observability.firstMiddleware],
    adminRoutes: [
      // First: the console's watcher of admin writes sees every route after it.
      ...console.adminRoutes,
      leadAdminRoutes(context.services),
      contactAdminRoutes(context),
      contactSourceAdminRoutes(context, contactSync),
      dndAdminRoutes(context),
      ...calls.adminRoutes,
      ...audit.adminRoutes,
    ],
    rootRoutes: [...observability.rootRoutes, openapiRoutes(), ...console.rootRoutes],
    rawBodyRoutes: [...calls.rawBodyRoutes],
    jobs: [...calls.startJobs, ...audit.jobs, contactSync, ...calls.jobs, ...console.jobs],
  };
}
