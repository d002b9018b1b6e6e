/**
 * What Telnyx's words mean for a command, as pure functions a unit test can
 * hold as a table: the `hangup_cause` (and SIP code) of a transfer leg that
 * ended before it was answered, the end of the caller's own leg, and the
 * error bodies of the REST API.
 *
 * A transfer leg's hangup_cause is documented as one of call_rejected,
 * normal_clearing, originator_cancel, timeout, time_limit, user_busy,
 * not_found, no_answer or unspecified; older accounts also report
 * unallocated_number. Where the cause says little (normal_clearing before an
 * answer, unspecified, a cause we do not know), the SIP code in
 * `sip_hangup_cause` decides, and failing that the outcome is plain failed:
 * busy, no_answer and rejected move the caller on to a fallback, so they
 * are said only when Telnyx said so.
 */
import type { FailureOutcome } from '../../types.ts';

export interface LegFailure {
  outcome: FailureOutcome;
  reason: string;
}

/** Telnyx's error code for a command on a call that is over. */
export const CALL_ENDED_CODE = '90018';

const BY_CAUSE: Record<string, LegFailure> = {
  user_busy: { outcome: 'busy', reason: 'the line is busy' },
  timeout: { outcome: 'no_answer', reason: 'no answer before the ring time ran out' },
  no_answer: { outcome: 'no_answer', reason: 'no answer' },
  call_rejected: { outcome: 'rejected', reason: 'the call was declined' },
  not_found: { outcome: 'failed', reason: 'the destination does not exist' },
  unallocated_number: { outcome: 'failed', reason: 'the number is not in service' },
  originator_cancel: { outcome: 'failed', reason: 'the caller hung up before the destination answered' },
  time_limit: { outcome: 'failed', reason: 'the time limit of the call was reached' },
};

/** SIP final responses, for causes that do not say enough by themselves. */
function bySipCode(code: number): LegFailure | undefined {
  if (code === 486 || code === 600) return { outcome: 'busy', reason: 'the line is busy' };
  if (code === 408 || code === 480 || code === 487) return { outcome: 'no_answer', reason: 'no answer' };
  if (code === 603) return { outcome: 'rejected', reason: 'the call was declined' };
  if (code === 404 || code === 484 || code === 604) return { outcome: 'failed', reason: 'the destination does not exist' };
  return undefined;
}

const WORD = /^[a-z0-9_]{1,40}$/;
const word = (raw: string | null): string | null => (raw && WORD.test(raw) ? raw : null);

/** What a transfer leg's call.hangup before any answer means. */
export function legHangup(cause: string | null, sipCause: string | null): LegFailure {
  const named = word(cause);
  const sip = sipCause && /^[1-6]\d\d$/.test(sipCause) ? Number(sipCause) : undefined;
  const tag = [named, sip ? `SIP ${sip}` : null].filter(Boolean).join(', ');
  const withTag = (failure: LegFailure): LegFailure => ({ outcome: failure.outcome, reason: tag ? `${failure.reason} (${tag})` : failure.reason });
  const direct = named ? BY_CAUSE[named] : undefined;
  if (direct) return withTag(direct);
  const fromSip = sip ? bySipCode(sip) : undefined;
  if (fromSip) return withTag(fromSip);
  if (named === 'normal_clearing') return withTag({ outcome: 'failed', reason: 'the destination ended the call before answering' });
  return withTag({ outcome: 'failed', reason: 'the call could not be put through' });
}

/** Why the caller's leg ended, for the call's history. */
export function callerGone(cause: string | null, source: string | null): string {
  const named = word(cause);
  const who = source === 'caller' ? 'the caller hung up' : source === 'callee' ? 'the far end hung up' : 'the phone system ended the call';
  return named ? `${who} (${named})` : who;
}

export interface ApiError {
  status: number;
  code: string | null;
  title: string | null;
  detail: string | null;
}

/** A REST error as a reason in words; the key itself is never part of it. */
export function apiErrorReason(error: ApiError): string {
  if (error.status === 401) return `Telnyx refused the API key (HTTP 401)`;
  if (error.status === 403) return `Telnyx refused the request: the API key may not do this (HTTP 403)`;
  if (error.code === CALL_ENDED_CODE) return "the caller's call has already ended";
  if (error.status === 429) return 'Telnyx is limiting requests right now (HTTP 429)';
  const words = error.detail ?? error.title ?? `HTTP ${error.status}`;
  return error.code ? `Telnyx error ${error.code}: ${words}` : `Telnyx: ${words}`;
}
