/**
 * Every Prometheus instrument of Switchboard, in one registry of its own (not
 * prom-client's global one, so two servers in one process never mix their
 * figures). Other modules record through the small typed methods below and
 * never touch prom-client, which keeps label names, label values and
 * cardinality decided in this one place: no label ever holds a call id, a key
 * or a caller number; accounts appear only where the set is bounded by the
 * manifests and a per-tenant figure is worth its series.
 *
 * Figures that already live elsewhere (sessions, manifest state) are read at
 * scrape time from the sources bound with `bindServer`, so the request path
 * pays nothing for them. docs/operations.md lists every metric.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type {
  AuditMetrics,
  CallControlKind,
  CallControlMetrics,
  CallControlOutcome,
  ContactSyncMetrics,
  OutboundOutcome,
  OutboundPurpose,
  ToolCallMetrics,
} from '../vocabulary/metric-sinks.ts';
import type { ToolCallEvent, ToolCallStatus } from '../vocabulary/tool-calls.ts';

/** Seconds; from a cache hit to a slow upstream a voice agent still waits for. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type ProtocolEra = '2025' | '2026';
/** A request that ends with its answer, or a stream held open (2025 GET stream, 2026 subscriptions/listen). */
export type McpRequestKind = 'request' | 'stream';

/** What the running server lets the metrics read at scrape time. */
export interface ServerSources {
  /** Live 2025-era sessions. */
  sessions(): number;
  manifests(): { generation: number; loadedAt: number; accounts: number; personas: number; problems: number };
  reloads(): { reloads: number; failedReloads: number };
  /** Each account's phone-system connection. */
  callControl(): { account: string; driver: string; state: 'up' | 'connecting' | 'down' }[];
}

export class Metrics implements ToolCallMetrics, CallControlMetrics, AuditMetrics, ContactSyncMetrics {
  readonly registry = new Registry();
  private sources: ServerSources | undefined;
  private processMetrics = false;

  private readonly toolCalls = new Counter({
    name: 'switchboard_tool_calls_total',
    help: 'Tool calls by tool and outcome (ok, or the error code the model got).',
    labelNames: ['tool', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly toolCallsByAccount = new Counter({
    name: 'switchboard_account_tool_calls_total',
    help: 'Tool calls by account and status (ok, error, invalid_arguments).',
    labelNames: ['account', 'status'] as const,
    registers: [this.registry],
  });
  private readonly toolLatency = new Histogram({
    name: 'switchboard_tool_call_duration_seconds',
    help: 'Time from receiving a tool call to its answer, by tool and status.',
    labelNames: ['tool', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly outbound = new Histogram({
    name: 'switchboard_outbound_request_duration_seconds',
    help: 'Outbound HTTP requests (API tools, call-control webhooks, contact sync) by purpose and outcome.',
    labelNames: ['purpose', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly callControl = new Counter({
    name: 'switchboard_call_control_commands_total',
    help: 'Call-control commands (transfer, hangup) by kind and outcome.',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly contactSyncSuccess = new Gauge({
    name: 'switchboard_contact_sync_last_success_timestamp_seconds',
    help: 'When a contact source last synced successfully (Unix seconds).',
    labelNames: ['account', 'source'] as const,
    registers: [this.registry],
  });
  private readonly contactSyncContacts = new Gauge({
    name: 'switchboard_contact_sync_contacts',
    help: 'Contacts held from a contact source after its last successful sync.',
    labelNames: ['account', 'source'] as const,
    registers: [this.registry],
  });
  private readonly contactSyncHealthy = new Gauge({
    name: 'switchboard_contact_sync_healthy',
    help: '1 when the last sync of a contact source succeeded, 0 when it failed.',
    labelNames: ['account', 'source'] as const,
    registers: [this.registry],
  });
  private readonly contactSyncErrors = new Counter({
    name: 'switchboard_contact_sync_errors_total',
    help: 'Failed syncs of a contact source.',
    labelNames: ['account', 'source'] as const,
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: 'switchboard_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly mcpInFlight = new Gauge({
    name: 'switchboard_mcp_requests_in_flight',
    help: 'MCP HTTP requests being answered now, by protocol era (streams are counted in switchboard_mcp_streams).',
    labelNames: ['era'] as const,
    registers: [this.registry],
  });
  private readonly mcpStreams = new Gauge({
    name: 'switchboard_mcp_streams',
    help: 'Open MCP streams by protocol era: 2025 GET streams of sessions, 2026 subscriptions/listen streams.',
    labelNames: ['era'] as const,
    registers: [this.registry],
  });
  private readonly reloadDuration = new Histogram({
    name: 'switchboard_manifest_reload_duration_seconds',
    help: 'Time to load the manifests and swap the snapshot, per reload after the first.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly auditWriteFailures = new Counter({
    name: 'switchboard_audit_write_failures_total',
    help: 'Attempts to write queued audit rows that failed (the rows are kept and retried).',
    registers: [this.registry],
  });
  private readonly auditRowsExpiredTotal = new Counter({
    name: 'switchboard_audit_rows_deleted_total',
    help: 'Audit rows deleted by the retention job.',
    registers: [this.registry],
  });

  constructor() {
    for (const era of ['2025', '2026'] as const) {
      this.mcpInFlight.set({ era }, 0);
      this.mcpStreams.set({ era }, 0);
    }
    // Read at scrape time from the running server; absent in CLI processes.
    const sources = () => this.sources;
    new Gauge({
      name: 'switchboard_mcp_sessions',
      help: 'Live MCP sessions by protocol era (2026-era clients are stateless and have none).',
      labelNames: ['era'] as const,
      registers: [this.registry],
      collect() {
        const bound = sources();
        if (bound) this.set({ era: '2025' }, bound.sessions());
      },
    });
    new Counter({
      name: 'switchboard_manifest_reloads_total',
      help: 'Manifest loads since start, the first included.',
      registers: [this.registry],
      collect() {
        const bound = sources();
        if (!bound) return;
        this.reset();
        this.inc(bound.reloads().reloads);
      },
    });
    new Counter({
      name: 'switchboard_manifest_reload_errors_total',
      help: 'Manifest loads that found problems (the files in error keep their last good version).',
      registers: [this.registry],
      collect() {
        const bound = sources();
        if (!bound) return;
        this.reset();
        this.inc(bound.reloads().failedReloads);
      },
    });
    const manifestGauge = (name: string, help: string, read: (m: ReturnType<ServerSources['manifests']>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const bound = sources();
          if (bound) this.set(read(bound.manifests()));
        },
      });
    new Gauge({
      name: 'switchboard_call_control_up',
      help: "1 when an account's phone-system connection can take commands (up), 0 when it is connecting or down; by account and driver.",
      labelNames: ['account', 'driver'] as const,
      registers: [this.registry],
      collect() {
        const bound = sources();
        if (!bound) return;
        this.reset();
        for (const entry of bound.callControl()) this.set({ account: entry.account, driver: entry.driver }, entry.state === 'up' ? 1 : 0);
      },
    });
    manifestGauge('switchboard_manifest_problems', 'Problems found by the last manifest load.', (m) => m.problems);
    manifestGauge('switchboard_manifest_generation', 'Generation of the snapshot in force (1 after the first load).', (m) => m.generation);
    manifestGauge('switchboard_manifest_loaded_timestamp_seconds', 'When the snapshot in force was loaded (Unix seconds).', (m) => m.loadedAt / 1000);
    manifestGauge('switchboard_manifest_accounts', 'Accounts in the snapshot in force.', (m) => m.accounts);
    manifestGauge('switchboard_manifest_personas', 'Personas in the snapshot in force.', (m) => m.personas);
  }

  /** Lets the scrape read a running server's live figures. */
  bindServer(sources: ServerSources): void {
    this.sources = sources;
  }

  /** Adds prom-client's process and Node.js runtime metrics (once; servers only). */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** A tool call the dispatcher answered. */
  toolCallEnded(event: ToolCallEvent): void {
    // A removed persona's calls carry whatever tool name the client sent: not a label.
    const tool = event.errorCode === 'PERSONA_REMOVED' ? '-' : event.tool;
    this.toolCall(tool, event.call.accountId, event.status, event.errorCode ?? 'ok', event.durationMs / 1000);
  }

  /** `outcome` is 'ok' or the error code the model got (TOOL_REFUSED, TOOL_TIMEOUT, …). */
  private toolCall(tool: string, account: string, status: ToolCallStatus, outcome: string, seconds: number): void {
    this.toolCalls.inc({ tool, outcome });
    this.toolCallsByAccount.inc({ account, status });
    this.toolLatency.observe({ tool, status }, seconds);
  }

  outboundRequest(purpose: OutboundPurpose, outcome: OutboundOutcome, seconds: number): void {
    this.outbound.observe({ purpose, outcome }, seconds);
  }

  callControlCommand(kind: CallControlKind, outcome: CallControlOutcome): void {
    this.callControl.inc({ kind, outcome });
  }

  /** `source` is the source's name in the account manifest (its `name`, else its type). */
  contactSyncSucceeded(account: string, source: string, contacts: number, atMs: number): void {
    const labels = { account, source };
    this.contactSyncSuccess.set(labels, atMs / 1000);
    this.contactSyncContacts.set(labels, contacts);
    this.contactSyncHealthy.set(labels, 1);
    this.contactSyncErrors.inc(labels, 0);
  }

  contactSyncFailed(account: string, source: string): void {
    const labels = { account, source };
    this.contactSyncHealthy.set(labels, 0);
    this.contactSyncErrors.inc(labels);
  }

  /** Drops the series of a contact source that left the manifests. */
  forgetContactSource(account: string, source: string): void {
    const labels = { account, source };
    for (const metric of [this.contactSyncSuccess, this.contactSyncContacts, this.contactSyncHealthy, this.contactSyncErrors]) metric.remove(labels);
  }

  httpRequest(method: string, route: string, status: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
  }

  /** Counts an MCP request or stream as open; call the returned function once it has ended. */
  mcpOpened(era: ProtocolEra, kind: McpRequestKind): () => void {
    const gauge = kind === 'stream' ? this.mcpStreams : this.mcpInFlight;
    gauge.inc({ era });
    return () => gauge.dec({ era });
  }

  manifestReloaded(durationMs: number): void {
    this.reloadDuration.observe(durationMs / 1000);
  }

  auditWriteFailed(): void {
    this.auditWriteFailures.inc();
  }

  auditRowsExpired(rows: number): void {
    this.auditRowsExpiredTotal.inc(rows);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
