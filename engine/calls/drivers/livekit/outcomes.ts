/**
 * What LiveKit's answers to TransferSIPParticipant mean for a transfer,
 * as a pure table a unit test can hold: no I/O, no clock.
 *
 * LiveKit reports a failed REFER in one of two ways. Servers so far answer
 * with a Twirp error whose meta carries the SIP status of the transferee's
 * final response (sip_status_code "486", sip_status "Busy Here"; the msg
 * reads "... sip status: 486: Busy Here"). Newer servers may instead answer
 * 200 with a TransferSIPParticipantResponse whose status is
 * STS_TRANSFER_FAILED, a SIPTransferReason and the SIP status (protobuf
 * JSON: enum names, or numbers). Both are read here.
 *
 * Why success is "connected" and not "handed_over": LiveKit does not answer
 * when the REFER is accepted (202) but waits for the NOTIFY whose sipfrag
 * holds the final response to the INVITE the transferee's side sends, and
 * answers without an error only when that is 200: the destination answered.
 * The API docs say so too ("a transfer always dials (REFER) and blocks until
 * the destination answers"; STR_COMPLETED: "the transferee answered and the
 * transfer completed"). Busy, no answer and declines come back as errors
 * with the caller still in the room, so the agent can try someone else.
 */
import type { FailureOutcome, Verdict } from '../../types.ts';
import { cleanReason } from '../../views.ts';

/** A Twirp error answer: {code, msg, meta}. */
export interface TwirpFailure {
  /** HTTP status of the answer. */
  status: number;
  /** Twirp error code (not_found, unauthenticated, resource_exhausted, ...). */
  code: string;
  msg: string;
  meta: Record<string, string>;
}

/** The SIP status codes of LiveKit's SIPStatusCode enum that this driver tells apart, by enum name. */
const SIP_STATUS_NAMES: Record<string, number> = {
  SIP_STATUS_OK: 200,
  SIP_STATUS_ACCEPTED: 202,
  SIP_STATUS_FORBIDDEN: 403,
  SIP_STATUS_NOTFOUND: 404,
  SIP_STATUS_METHOD_NOT_ALLOWED: 405,
  SIP_STATUS_REQUEST_TIMEOUT: 408,
  SIP_STATUS_GONE: 410,
  SIP_STATUS_TEMPORARILY_UNAVAILABLE: 480,
  SIP_STATUS_CALL_TRANSACTION_DOES_NOT_EXISTS: 481,
  SIP_STATUS_ADDRESS_INCOMPLETE: 484,
  SIP_STATUS_BUSY_HERE: 486,
  SIP_STATUS_REQUEST_TERMINATED: 487,
  SIP_STATUS_NOT_ACCEPTABLE_HERE: 488,
  SIP_STATUS_INTERNAL_SERVER_ERROR: 500,
  SIP_STATUS_NOT_IMPLEMENTED: 501,
  SIP_STATUS_BAD_GATEWAY: 502,
  SIP_STATUS_SERVICE_UNAVAILABLE: 503,
  SIP_STATUS_GATEWAY_TIMEOUT: 504,
  SIP_STATUS_GLOBAL_BUSY_EVERYWHERE: 600,
  SIP_STATUS_GLOBAL_DECLINE: 603,
  SIP_STATUS_GLOBAL_DOES_NOT_EXIST_ANYWHERE: 604,
  SIP_STATUS_GLOBAL_REJECTED: 608,
};

/** SIP final responses to the transferee's INVITE, as outcomes; anything else is "failed" with the status in words. */
export function sipOutcome(code: number): FailureOutcome {
  if (code === 486 || code === 600) return 'busy';
  if (code === 408 || code === 480 || code === 487) return 'no_answer';
  if (code === 603) return 'rejected';
  return 'failed';
}

export interface SipStatus {
  code: number;
  text: string;
}

/** A SIP status code in any of the forms LiveKit writes one: 486, "486", "SIP_STATUS_BUSY_HERE". */
export function readSipCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value >= 100 && value <= 699 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d{3}$/.test(value)) return readSipCode(Number(value));
  return SIP_STATUS_NAMES[value];
}

/** The SIP status a Twirp error carries: in meta (sip_status_code, sip_status), else in its msg. */
export function sipStatusOfError(failure: TwirpFailure): SipStatus | undefined {
  const fromMeta = readSipCode(failure.meta.sip_status_code);
  if (fromMeta !== undefined) return { code: fromMeta, text: cleanReason(failure.meta.sip_status, '').replace(/^SIP_STATUS_/, '') };
  const match = /sip status:? (\d{3})(?::? ?([^\]\n]*))?/i.exec(failure.msg);
  const code = match ? readSipCode(match[1]) : undefined;
  return code === undefined ? undefined : { code, text: cleanReason(match?.[2], '') };
}

const sipWords = (status: SipStatus): string => `SIP ${status.code}${status.text ? ` ${status.text}` : ''}`;

function sipVerdict(status: SipStatus): Verdict {
  return { success: false, outcome: sipOutcome(status.code), reason: `the destination answered ${sipWords(status)}` };
}

/** A transfer's Twirp error as a verdict (401 is read by the driver first: it is about the credentials). */
export function transferErrorVerdict(failure: TwirpFailure): Verdict {
  const sip = sipStatusOfError(failure);
  if (sip) return sipVerdict(sip);
  const msg = cleanReason(failure.msg, `HTTP ${failure.status}`);
  switch (failure.code) {
    case 'canceled':
    case 'deadline_exceeded':
      // LiveKit gives up waiting for the transferee's final response after ringing_timeout.
      return { success: false, outcome: 'no_answer', reason: `no final answer from the destination within the ring time (LiveKit: ${msg})` };
    case 'not_found':
      return { success: false, outcome: 'failed', reason: `the caller is no longer in the LiveKit room (${msg})` };
    case 'invalid_argument':
    case 'malformed':
      return { success: false, outcome: 'failed', reason: `LiveKit refused the transfer request (${msg})` };
    default:
      return { success: false, outcome: 'failed', reason: `LiveKit could not transfer the call (${failure.code || `HTTP ${failure.status}`}: ${msg})` };
  }
}

const enumIs = (value: unknown, name: string, number: number): boolean => value === name || value === number;

/** What a TransferSIPParticipant answer of 200 says: the response's status when it has one, else success. */
export function transferAnswerVerdict(body: Record<string, unknown>): Verdict {
  const status = body.status;
  const reason = body.reason;
  if (enumIs(status, 'STS_TRANSFER_SUCCESSFUL', 2)) return { success: true, outcome: 'connected' };
  if (enumIs(status, 'STS_TRANSFER_FAILED', 1) || enumIs(reason, 'STR_CALL_ENDED', 2)) {
    const sipStatus = body.sip_status ?? body.sipStatus;
    const code = sipStatus && typeof sipStatus === 'object' ? readSipCode((sipStatus as Record<string, unknown>).code) : undefined;
    // A 2xx status in a failed transfer says nothing about why; the reason does.
    if (code !== undefined && code >= 300) {
      return sipVerdict({ code, text: cleanReason((sipStatus as Record<string, unknown>).status, '') });
    }
    if (enumIs(reason, 'STR_RINGING_TIMEOUT', 4)) return { success: false, outcome: 'no_answer', reason: 'the destination did not answer within the ring time' };
    if (enumIs(reason, 'STR_REJECTED', 3)) return { success: false, outcome: 'rejected', reason: 'the destination or its provider rejected the transfer' };
    if (enumIs(reason, 'STR_CALL_ENDED', 2)) return { success: false, outcome: 'failed', reason: 'the call ended before the transfer completed' };
    if (enumIs(reason, 'STR_SUBSCRIPTION_TERMINATED', 5)) return { success: false, outcome: 'failed', reason: 'the SIP provider stopped reporting on the transfer without a final answer' };
    if (enumIs(reason, 'STR_CANCELED', 6)) return { success: false, outcome: 'failed', reason: 'the transfer was cancelled' };
    return { success: false, outcome: 'failed', reason: 'LiveKit reported that the transfer failed' };
  }
  // An empty answer (servers that return google.protobuf.Empty) or one without a final status:
  // LiveKit answers without an error only after the destination's final 200.
  return { success: true, outcome: 'connected' };
}
