/**
 * What metrics add to a running server: the reload observer, the live
 * figures read at scrape time, the HTTP request counter in front of every
 * route, process metrics, and GET /metrics. The dispatcher counts every tool
 * call itself (ToolDispatcher.afterCall).
 */
import type { Express, RequestHandler } from 'express';

import type { AppContext } from '../app-context.ts';
import { httpMetrics } from './http-metrics.ts';
import { metricsRoute } from './metrics-route.ts';

export function observabilityExtension(context: AppContext): { firstMiddleware: RequestHandler[]; rootRoutes: ((app: Express) => void)[] } {
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
