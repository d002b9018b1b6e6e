/**
 * What Twilio's words mean for a command: the DialCallStatus of a <Dial>
 * action request (with the SIP response code when a <Sip> leg failed), the
 * error answers of the REST API, and which call statuses mean the caller's
 * leg is gone. Pure tables, so a unit test can hold every case.
 *
 * A <Dial> action request comes when the dialed leg ENDS: "completed" (or
 * "answered") there means it was answered and bridged, and is now over.
 */
import type { FailureOutcome } from '../../types.ts';

export type DialResult = { connected: true } | { connected: false; outcome: FailureOutcome; reason: string };

/** A failed <Sip> leg by its final SIP response: busy, declined or unreachable are different things. */
function sipFailure(code: number): DialResult {
  if (code === 486 || code === 600) return { connected: false, outcome: 'busy', reason: `busy (SIP ${code})` };
  if (code === 603) return { connected: false, outcome: 'rejected', reason: 'declined (SIP 603)' };
  if (code === 480 || code === 408) return { connected: false, outcome: 'no_answer', reason: `not answered (SIP ${code})` };
  if (code === 404 || code === 484 || code === 604) return { connected: false, outcome: 'failed', reason: `no such SIP destination (SIP ${code})` };
  return { connected: false, outcome: 'failed', reason: `the SIP destination refused the call (SIP ${code})` };
}

/** The result of a transfer from the action request's DialCallStatus (and DialSipResponseCode, for <Sip>). */
export function dialResult(dialCallStatus: string, sipResponseCode?: number): DialResult {
  switch (dialCallStatus) {
    case 'completed':
    case 'answered':
      return { connected: true };
    case 'busy':
      return { connected: false, outcome: 'busy', reason: 'busy' };
    case 'no-answer':
      return { connected: false, outcome: 'no_answer', reason: 'no answer' };
    case 'failed':
      return sipResponseCode && sipResponseCode >= 300 && sipResponseCode < 700 ? sipFailure(sipResponseCode) : { connected: false, outcome: 'failed', reason: 'Twilio could not place the call' };
    case 'canceled':
      return { connected: false, outcome: 'failed', reason: 'the dialed call was canceled before it was answered' };
    default:
      return { connected: false, outcome: 'failed', reason: `Twilio reported an unknown dial status "${dialCallStatus.slice(0, 32)}"` };
  }
}

/** Call statuses after which a call is over (Twilio's CallStatus values). */
const FINAL_CALL_STATUSES = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);
export const isFinalCallStatus = (status: string | null): boolean => status !== null && FINAL_CALL_STATUSES.has(status);

/** Twilio's REST error body: {code, message, more_info, status}. */
export interface TwilioError {
  status: number;
  code: number | null;
  message: string;
}

export const NOT_FOUND = 20404;
export const NOT_IN_PROGRESS = 21220;

/** Why Twilio refused to update a call, in words the agent's tool text can carry. */
export function updateRefusal(error: TwilioError): { reason: string; callGone: boolean } {
  if (error.code === NOT_FOUND || error.status === 404) return { reason: 'Twilio does not know this call (it may have ended, or call_id is not its CallSid)', callGone: false };
  if (error.code === NOT_IN_PROGRESS) return { reason: 'the call is no longer in progress at Twilio', callGone: true };
  return { reason: `Twilio refused the request: ${error.message}${error.code ? ` (error ${error.code})` : ''}`, callGone: false };
}

/** Why Twilio did not create the new leg of a warm transfer. */
export function newCallRefusal(error: TwilioError): string {
  if (error.status === 429) return 'Twilio is limiting requests right now (HTTP 429)';
  if (error.status >= 500) return `Twilio answered HTTP ${error.status}${error.code ? ` (error ${error.code})` : ''}`;
  return `Twilio refused to place the call: ${error.message}${error.code ? ` (error ${error.code})` : ''}`;
}

/** A hang-up Twilio refused because the call is already over counts as done. */
export const callAlreadyOver = (error: TwilioError): boolean => error.code === NOT_FOUND || error.status === 404 || error.code === NOT_IN_PROGRESS;
