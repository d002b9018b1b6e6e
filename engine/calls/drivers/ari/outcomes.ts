/**
 * What Asterisk's words mean for a command, as pure tables a unit test can
 * hold: the Q.850 hang-up cause of a new leg that ended before it was
 * answered (ChannelDestroyed.cause), the dialstatus of the dialplan's Dial
 * (Dial events, the values of DIALSTATUS in app_dial's documentation), the
 * error answers of ARI's REST calls ({"message": ...} with an HTTP status),
 * and which device states mean Do-Not-Disturb.
 *
 * Causes and statuses come from Asterisk itself; a value not listed here is
 * a failure with its own words kept, never a guess at busy or no answer.
 */
import type { AriDeviceState } from '../../../manifests/types.ts';
import type { FailureOutcome, Verdict } from '../../types.ts';
import { cleanReason } from '../../views.ts';

/** Device states that mean DND when the account does not list its own (FreePBX sets Custom:DND<ext> to BUSY). */
export const DEFAULT_DND_STATES: readonly AriDeviceState[] = ['BUSY', 'INUSE', 'ONHOLD'];

export const isDnd = (state: string, dndStates: readonly string[] | undefined): boolean => (dndStates ?? DEFAULT_DND_STATES).includes(state);

/** Q.850 causes (include/asterisk/causes.h) that say why a dialed leg was not reached. */
const CAUSE_OUTCOMES: ReadonlyMap<number, FailureOutcome> = new Map([
  [17, 'busy'], // USER_BUSY
  [18, 'no_answer'], // NO_USER_RESPONSE
  [19, 'no_answer'], // NO_ANSWER (also what an originate's own timeout sets)
  [21, 'rejected'], // CALL_REJECTED
]);

/** A new leg that ended before it was answered, from its ChannelDestroyed cause. */
export function unansweredLeg(cause: number | undefined, causeText: string | undefined): { outcome: FailureOutcome; reason: string } {
  const outcome = (cause !== undefined && CAUSE_OUTCOMES.get(cause)) || 'failed';
  const words = cleanReason(causeText, 'no cause given').slice(0, 80);
  const detail = cause === undefined ? words : `${words}, cause ${cause}`;
  switch (outcome) {
    case 'busy':
      return { outcome, reason: `busy (${detail})` };
    case 'no_answer':
      return { outcome, reason: `not answered (${detail})` };
    case 'rejected':
      return { outcome, reason: `declined (${detail})` };
    default:
      return { outcome, reason: `the destination could not be reached (${detail})` };
  }
}

/** What one Dial event says: a step along the way, or the dial's end. */
export type DialReading = { final: false; step: 'dialing' | 'ringing' | null } | { final: true; verdict: Verdict };

const failure = (outcome: FailureOutcome, reason: string): DialReading => ({ final: true, verdict: { success: false, outcome, reason } });

/** A Dial event's dialstatus (app_dial's DIALSTATUS values, plus the in-progress ones it publishes). */
export function readDialStatus(dialstatus: string): DialReading {
  switch (dialstatus) {
    case '':
      return { final: false, step: 'dialing' };
    case 'RINGING':
      return { final: false, step: 'ringing' };
    case 'PROGRESS':
    case 'PROCEEDING':
      return { final: false, step: null };
    case 'ANSWER':
      return { final: true, verdict: { success: true, outcome: 'connected' } };
    case 'BUSY':
      return failure('busy', 'busy (BUSY)');
    case 'NOANSWER':
      return failure('no_answer', 'not answered (NOANSWER)');
    case 'DONTCALL':
    case 'TORTURE':
      return failure('rejected', `declined by call screening (${dialstatus})`);
    case 'CHANUNAVAIL':
      return failure('failed', 'the destination is unavailable (CHANUNAVAIL: not registered or does not exist)');
    case 'CONGESTION':
      return failure('failed', 'the destination could not be reached (CONGESTION)');
    case 'CANCEL':
      return failure('failed', 'the dial was cancelled before it was answered (CANCEL)');
    case 'INVALIDARGS':
      return failure('failed', 'the dialplan called Dial with invalid arguments (INVALIDARGS)');
    default:
      return failure('failed', `the dial ended with status ${cleanReason(dialstatus, 'unknown').slice(0, 32)}`);
  }
}

/** An ARI REST error answer in words: Asterisk's own message and the status. */
export function restRefusal(action: string, status: number, message: string | undefined): string {
  const said = cleanReason(message, '').slice(0, 160);
  if (status === 401) return `Asterisk refused the ARI user name or password (HTTP 401) when asked to ${action}`;
  if (status === 403) return `the ARI user may not ${action} (HTTP 403${said ? `: ${said}` : ''}; is it read_only, or outside its ACL?)`;
  return `Asterisk refused to ${action}${said ? `: ${said}` : ''} (HTTP ${status})`;
}
