/**
 * The optional `outcome` field a PBX integration may send with its word on a
 * transfer (an acknowledgement on the call-events stream, a webhook answer):
 * connected or handed_over with success, busy, no_answer, rejected or failed
 * without. Judged here once, as a result rather than an exception, so the
 * acknowledgement route can refuse a contradiction (success with "busy")
 * and a webhook answer can ignore it.
 */
import { FAILURE_OUTCOMES, SUCCESS_OUTCOMES, type TransferOutcome } from '../types.ts';

export type OutcomeField = { ok: true; value: TransferOutcome | undefined } | { ok: false; message: string };

export function readOutcome(raw: unknown, success: boolean): OutcomeField {
  if (raw === undefined || raw === null) return { ok: true, value: undefined };
  const allowed: readonly string[] = success ? SUCCESS_OUTCOMES : FAILURE_OUTCOMES;
  if (typeof raw !== 'string' || !allowed.includes(raw)) {
    return { ok: false, message: `outcome must be one of ${allowed.join(', ')} when success is ${String(success)}` };
  }
  return { ok: true, value: raw as TransferOutcome };
}
