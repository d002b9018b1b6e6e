/**
 * What tool handlers, admin routes and CLI commands may use, created once per
 * process. Capabilities add their stores and clients here, so a handler never
 * opens its own connection or reads the wall clock.
 */
import { AuditLog } from './audit/audit-log.ts';
import { CallControl } from './calls/control.ts';
import type { Clock } from './clock.ts';
import type { ClusterNode } from './cluster/cluster.ts';
import type { ServerSettings } from './config.ts';
import { ContactStore } from './contacts/store.ts';
import { LeadStore } from './leads/store.ts';
import type { Logger } from './logging.ts';
import { Metrics } from './observability/metrics.ts';
import { OutboundClient } from './outbound/client.ts';
import type { SecretStore } from './secrets.ts';
import type { StoreEngine } from './store/engine.ts';
import { DndStore } from './users/dnd-store.ts';

export interface ServiceBase {
  /** Live state, SQLite or PostgreSQL (store/engine.ts): what every store reads and writes. */
  store: StoreEngine;
  clock: Clock;
  log: Logger;
  secrets: SecretStore;
  settings: ServerSettings;
  /** This node among those sharing the database: a serving node has one (the CLI does not). */
  cluster?: ClusterNode | undefined;
}

/** The base plus what capabilities add (their stores and clients). */
export interface Services extends ServiceBase {
  dnd: DndStore;
  leads: LeadStore;
  contacts: ContactStore;
  /** The one HTTP client for other systems, with the SSRF guard (settings.outboundAllow). */
  outbound: OutboundClient;
  calls: CallControl;
  metrics: Metrics;
  audit: AuditLog;
}

/** Builds every service over one database; the server and the CLI share this. */
export function createServices(base: ServiceBase): Services {
  const metrics = new Metrics();
  const outbound = new OutboundClient({ allow: base.settings.outboundAllow, observe: (purpose, outcome, seconds) => metrics.outboundRequest(purpose, outcome, seconds) });
  const dnd = new DndStore(base.store, base.clock);
  return {
    ...base,
    outbound,
    dnd,
    leads: new LeadStore(base.store, base.clock),
    contacts: new ContactStore(base.store, base.clock),
    calls: new CallControl({ ...base, outbound, metrics, dnd, publicUrl: base.settings.publicUrl, cluster: base.cluster }),
    metrics,
    audit: new AuditLog(base.store, base.log, metrics),
  };
}
