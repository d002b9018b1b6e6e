/**
 * What metrics add to a running server: the reload observer, the live
 * figures read at scrape time, the HTTP request counter in front of every
 * route, process metrics, and GET /metrics. The dispatcher counts every tool
 * call itself (ToolDispatcher.afterCall).
 */
import type { RequestHandler } from 'express';

import type { ServerSettings } from '../config.ts';
import type { AuthFailureLimiter } from '../http/auth-failures.ts';
import type { Registry } from '../manifests/registry.ts';
import type { AppRoutes } from '../vocabulary/routes.ts';
import { httpMetrics } from './http-metrics.ts';
import type { Metrics, ServerSources } from './metrics.ts';
import { metricsRoute } from './metrics-route.ts';

/** What the metrics' part of the server reads: the figures it shows at scrape time, and who may scrape. */
export interface ObservabilityContext {
  registry: Pick<Registry, 'current' | 'stats' | 'on'>;
  sessions: { readonly size: number };
  services: { metrics: Metrics; calls: { drivers: { health: ServerSources['callControl'] } } };
  settings: Pick<ServerSettings, 'metricsToken' | 'host'>;
  authFailures: AuthFailureLimiter;
}

export function observabilityExtension(context: ObservabilityContext): { firstMiddleware: RequestHandler[]; rootRoutes: AppRoutes[] } {
  const { metrics } = context.services;
  metrics.collectProcessMetrics();
  metrics.bindServer({
    sessions: () => context.sessions.size,
    manifests: () => {
      const snapshot = context.registry.current();
      return { generation: snapshot.generation, loadedAt: snapshot.loadedAt, accounts: snapshot.accounts.size, personas: snapshot.personas.size, problems: snapshot.problems.length };
    },
    reloads: () => context.registry.stats(),
    callControl: () => context.services.calls.drivers.health(),
  });
  context.registry.on('reload', (report) => metrics.manifestReloaded(report.durationMs));
  return {
    // First of all handlers: requests the host guard or the endpoint refuse are counted too.
    firstMiddleware: [httpMetrics(metrics)],
    rootRoutes: [metricsRoute(metrics, { token: context.settings.metricsToken, bindHost: context.settings.host, failures: context.authFailures })],
  };
}
