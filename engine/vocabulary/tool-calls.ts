/**
 * What a tool call comes to: the outcome a handler returns, and the event the
 * dispatcher hands to what follows every call (the audit trail, the metrics,
 * the log). Call control shapes transfer outcomes, the audit trail stores
 * events and the metrics count them, none of them needing the dispatcher.
 *
 * Shared vocabulary: a leaf (only the error catalogue's codes, itself a leaf).
 */
import type { ErrorCode } from '../errors.ts';
import type { CallContext } from './call-context.ts';

export interface ToolOutcome {
  /** One or two sentences the voice agent's model reads. */
  text: string;
  /** The same facts as data (structuredContent). */
  data: Record<string, unknown>;
}

export type ToolCallStatus = 'ok' | 'error' | 'invalid_arguments';

export interface ToolCallEvent {
  call: CallContext;
  tool: string;
  /** Arguments as received, with the tool's sensitive ones masked. */
  arguments: Record<string, unknown>;
  status: ToolCallStatus;
  errorCode: ErrorCode | undefined;
  /** The text the model got. */
  text: string;
  startedAt: number;
  durationMs: number;
}

/** Where an ended tool call is recorded: the audit trail (engine/audit/audit-log.ts). */
export interface ToolCallRecorder {
  record(event: ToolCallEvent): void;
}
