/**
 * What the audit trail adds to a running server: the secret masker, the
 * admin route, the retention job, and a job whose stop writes the rows still
 * queued at shutdown. The dispatcher records every tool call itself
 * (ToolDispatcher.afterCall).
 */
import type { Clock } from '../clock.ts';
import type { ClusterNode } from '../cluster/cluster.ts';
import type { ServerSettings } from '../config.ts';
import type { Logger } from '../logging.ts';
import type { Registry } from '../manifests/registry.ts';
import type { SecretStore } from '../secrets.ts';
import type { BackgroundJob } from '../vocabulary/jobs.ts';
import type { AuditMetrics } from '../vocabulary/metric-sinks.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import { auditRoutes } from './admin-routes.ts';
import type { AuditLog } from './audit-log.ts';
import { AuditRetentionJob } from './retention.ts';
import { secretMasker } from './secret-masking.ts';

/** What the audit trail's part of the server uses: the manifests in force (the secrets they name), its services, and the retention setting. */
export interface AuditContext {
  registry: Registry;
  services: { audit: AuditLog; clock: Clock; log: Logger; metrics: AuditMetrics; secrets: SecretStore; cluster?: ClusterNode | undefined };
  settings: Pick<ServerSettings, 'auditRetentionDays'>;
}

export function auditExtension(context: AuditContext): { adminRoutes: AdminRoutes[]; jobs: BackgroundJob[] } {
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
