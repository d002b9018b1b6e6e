/**
 * What the audit trail adds to a running server: the secret masker, the
 * admin route, the retention job, and a job whose stop writes the rows still
 * queued at shutdown. The dispatcher records every tool call itself
 * (ToolDispatcher.afterCall).
 */
import type { AppContext, BackgroundJob } from '../app-context.ts';
import type { AdminRoutes } from '../http/app.ts';
import { auditRoutes } from './admin-routes.ts';
import { AuditRetentionJob } from './retention.ts';
import { secretMasker } from './secret-masking.ts';

export function auditExtension(context: AppContext): { adminRoutes: AdminRoutes[]; jobs: BackgroundJob[] } {
  const { audit, clock, log, metrics, secrets } = context.services;
  const masker = secretMasker(context.registry, secrets);
  // Reads every secret the manifests name now and after each reload (SIGHUP re-reads the secrets file first):
  // each is masked everywhere, and a short one warned about, before anything can use it.
  masker('');
  context.registry.on('reload', () => masker(''));
  audit.setMasker(masker);
  const writer: BackgroundJob = { name: 'audit-writer', start: () => {}, stop: () => audit.close() };
  const cluster = context.services.cluster;
  const retention = new AuditRetentionJob(audit, clock, log, metrics, {
    retentionDays: context.settings.auditRetentionDays,
    ...(cluster ? { turn: (job: string, periodMs: number, now: number) => cluster.takeTurn(job, periodMs, now) } : {}),
  });
  return { adminRoutes: [auditRoutes(audit, clock)], jobs: [writer, retention] };
}
