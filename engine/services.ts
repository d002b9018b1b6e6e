/**
 * What tool handlers, admin routes and CLI commands may use, created once per
 * process. Capabilities add their stores and clients here, so a handler never
 * opens its own connection or reads the wall clock.
 */
import { AuditLog } from './audit/audit-log.ts';
import type { Clock } from './clock.ts';
import type { ServerSettings } from './config.ts';
import type { Logger } from './logging.ts';
import { Metrics } from './observability/metrics.ts';
import type { SecretStore } from './secrets.ts';
import type { Database } from './store/database.ts';
import { DndStore } from './users/dnd-store.ts';

export interface ServiceBase {
  db: Database;
  clock: Clock;
  log: Logger;
  secrets: SecretStore;
  settings: ServerSettings;
}

/** The base plus what capabilities add (their stores and clients). */
export interface Services extends ServiceBase {
  dnd: DndStore;
  metrics: Metrics;
  audit: AuditLog;
}

/** Builds every service over one database; the server and the CLI share this. */
export function createServices(base: ServiceBase): Services {
  const metrics = new Metrics();
  return {
    ...base,
    dnd: new DndStore(base.db, base.clock),
    metrics,
    audit: new AuditLog(base.db, base.log, metrics),
  };
}
