/**
 * What the parts that count things may tell the metrics, each part through
 * the few methods it needs. engine/observability/metrics.ts implements them
 * all over one Prometheus registry; call control, the audit trail, contact
 * syncs, the outbound client and the dispatcher know only their sink, so
 * none of them reaches the metrics module (or, through it, anything else).
 *
 * Shared vocabulary: a leaf (only the tool-call event, itself a leaf).
 */
import type { ToolCallEvent } from './tool-calls.ts';

/** Why an outbound HTTP request was made. */
export type OutboundPurpose = 'api_tool' | 'webhook' | 'contact_sync' | 'call_control';
/** How it ended: an answer (2xx/3xx), an error status, no answer in time, a network failure, or refused by the SSRF guard. */
export type OutboundOutcome = 'ok' | 'http_error' | 'timeout' | 'network_error' | 'blocked';
export type CallControlKind = 'transfer' | 'hangup';
/** ok: the PBX (or the event consumer) took the command; refused: policy or PBX said no; failed: error; timeout: no answer in time. */
export type CallControlOutcome = 'ok' | 'refused' | 'failed' | 'timeout';

/** The dispatcher's: every ended tool call. */
export interface ToolCallMetrics {
  toolCallEnded(event: ToolCallEvent): void;
}

/** Call control's: how each command to a phone system ended. */
export interface CallControlMetrics {
  callControlCommand(kind: CallControlKind, outcome: CallControlOutcome): void;
}

/** The audit trail's: batches that could not be written, rows removed by retention. */
export interface AuditMetrics {
  auditWriteFailed(): void;
  auditRowsExpired(rows: number): void;
}

/** Contact syncs': each source's last sync, per account. `source` is the source's name in the account manifest. */
export interface ContactSyncMetrics {
  contactSyncSucceeded(account: string, source: string, contacts: number, atMs: number): void;
  contactSyncFailed(account: string, source: string): void;
  /** Drops the series of a contact source that left the manifests. */
  forgetContactSource(account: string, source: string): void;
}
