/**
 * Twilio's requests to this server about a transfer, under
 * /ucp/v2/pbx/{account}/twilio/:
 *
 *   answered?command=N     <Number url>/<Sip url>: the called party answered;
 *                          the answer (an empty <Response/>) lets the bridge go ahead.
 *   progress?command=N     statusCallback of the new leg: it is ringing.
 *   dial-result?command=N  the <Dial> action: the new leg ENDED; the TwiML
 *                          answer decides what the caller gets next.
 *   status                 the caller's own call status callback (optional,
 *                          set on the Twilio number): the caller's leg is gone.
 *   warm-…                 a warm transfer's (warm.ts): the new leg's status,
 *                          its briefing and key, the conference's events.
 *
 * Every request is checked against X-Twilio-Signature first; a bad or
 * missing signature is answered 403 and changes nothing. The command id
 * comes from a URL this server wrote into its own <Dial>, which the
 * signature covers, so a valid request for a command this instance did not
 * send (the server restarted, or the account was reloaded, while the
 * transfer rang) is still honoured; the sink ignores ids of other accounts.
 */
import type { Logger } from '../../../logging.ts';
import type { CallbackAnswer, CallbackRequest, DriverSink } from '../driver.ts';
import { NO_CONTENT, param, plain, twiml } from './answers.ts';
import { dialResult, isFinalCallStatus } from './outcomes.ts';
import { verifyTwilioSignature } from './signature.ts';
import { backToAgentTwiml, CONNECT_TWIML, HANGUP_TWIML, type WayBack } from './twiml.ts';
import type { WarmTransfers } from './warm.ts';

export interface CallbackDeps {
  sink: DriverSink;
  log: Logger;
  accountId: string;
  /** The auth token now, or undefined when the secret is not set. */
  token(): string | undefined;
  /** How a caller whose transfer was not answered gets back to the agent (stream_url, return_url), if at all. */
  way: WayBack | undefined;
  /** The caller's CallSid of each transfer this instance sent, by command id. */
  sent: Map<number, string>;
  /** Warm transfers, when the server has a public URL. */
  warm: WarmTransfers | undefined;
}

const COMMAND_ID = /^[1-9][0-9]{0,14}$/;

export async function handleCallback(request: CallbackRequest, deps: CallbackDeps): Promise<CallbackAnswer> {
  const token = deps.token();
  const params = new URLSearchParams(request.body.toString('utf8'));
  const header = request.headers['x-twilio-signature'];
  if (!token || !verifyTwilioSignature(token, typeof header === 'string' ? header : undefined, request.url, params)) {
    deps.log.warn({ event: 'twilio_callback_refused', account: deps.accountId, path: request.path.slice(0, 64), signed: typeof header === 'string' }, 'a Twilio callback without a valid signature was refused');
    return plain(403, 'invalid signature');
  }
  if (request.path === 'status') return callStatus(params, deps);
  if (request.path.startsWith('warm-')) return deps.warm ? deps.warm.callback(request.path, request.query, params) : plain(404, 'no such callback');
  const raw = request.query.get('command') ?? '';
  if (!COMMAND_ID.test(raw)) return plain(400, 'missing or invalid command id');
  const id = Number(raw);
  switch (request.path) {
    case 'answered':
      return answered(id, params, deps);
    case 'progress':
      return progress(id, params, deps);
    case 'dial-result':
      return dialEnded(id, params, request.query.get('call'), deps);
    default:
      return plain(404, 'no such callback');
  }
}

/** The parent call of a transfer leg must be the call the transfer was put on (when this instance sent it). */
function belongs(id: number, callSid: string | null, deps: CallbackDeps): boolean {
  const expected = deps.sent.get(id);
  if (expected === undefined || expected === callSid) return true;
  deps.log.warn({ event: 'twilio_callback_mismatch', account: deps.accountId, command: id }, 'a Twilio callback names another call than its transfer');
  return false;
}

function answered(id: number, params: URLSearchParams, deps: CallbackDeps): CallbackAnswer {
  if (!belongs(id, param(params, 'ParentCallSid'), deps)) return plain(409, 'the callback does not belong to this transfer');
  deps.sink.step(id, 'answered', { dial_call_sid: param(params, 'CallSid') });
  deps.sink.settle(id, { success: true, outcome: 'connected' });
  return twiml(CONNECT_TWIML);
}

function progress(id: number, params: URLSearchParams, deps: CallbackDeps): CallbackAnswer {
  const status = param(params, 'CallStatus');
  if (status === 'ringing' && belongs(id, param(params, 'ParentCallSid'), deps)) deps.sink.step(id, 'ringing', { dial_call_sid: param(params, 'CallSid') });
  else deps.log.debug({ event: 'twilio_progress_ignored', account: deps.accountId, command: id, status }, 'a Twilio progress callback was not used');
  return NO_CONTENT;
}

/**
 * The <Dial> action: the new leg ended. What the caller gets next is this
 * answer's TwiML. `callId` is the call's id as the action URL carries it
 * (with stream_url, for the stream's parameters); else the CallSid.
 */
function dialEnded(id: number, params: URLSearchParams, callId: string | null, deps: CallbackDeps): CallbackAnswer {
  const callSid = param(params, 'CallSid');
  const back = (): string => (deps.way ? backToAgentTwiml(deps.way, callId ?? callSid ?? '') : HANGUP_TWIML);
  if (!belongs(id, callSid, deps)) return twiml(back());
  deps.sent.delete(id);
  const dialStatus = param(params, 'DialCallStatus') ?? '';
  const sipCode = Number(param(params, 'DialSipResponseCode') ?? '') || undefined;
  const result = dialResult(dialStatus, sipCode);
  const callerGone = isFinalCallStatus(param(params, 'CallStatus'));
  const { sink } = deps;
  sink.step(id, 'leg_ended', { dial_call_status: dialStatus.slice(0, 32), dial_call_duration: param(params, 'DialCallDuration'), ...(sipCode ? { sip_response_code: sipCode } : {}) });

  if (result.connected) {
    // The transferred conversation is over; so is the caller's call.
    sink.settle(id, { success: true, outcome: 'connected' });
    if (callSid) sink.callEnded(callSid, callerGone ? 'the caller hung up' : 'the transferred call ended');
    return twiml(HANGUP_TWIML);
  }
  if (callerGone) {
    if (callSid) sink.callEnded(callSid, 'the caller hung up while the transfer was ringing');
    sink.settle(id, { success: false, outcome: 'failed', reason: 'the caller hung up before the transfer was answered' });
    return twiml(HANGUP_TWIML);
  }
  if (!deps.way) {
    // Updating the call ended the agent's media stream; with nowhere to send the caller back, the call ends.
    if (callSid) sink.callEnded(callSid, `the transfer was not answered (${result.reason}) and call_control.return_url is not set`);
    sink.settle(id, { success: false, outcome: 'failed', reason: `${result.reason}; the call ended because call_control.return_url is not set` });
    return twiml(HANGUP_TWIML);
  }
  sink.settle(id, { success: false, outcome: result.outcome, reason: result.reason });
  return twiml(back());
}

/** The caller's own call status callback: a final status means the caller's leg is gone. */
function callStatus(params: URLSearchParams, deps: CallbackDeps): CallbackAnswer {
  const callSid = param(params, 'CallSid');
  const status = param(params, 'CallStatus');
  if (callSid && isFinalCallStatus(status)) deps.sink.callEnded(callSid, `Twilio reports the call ${status}`);
  else deps.log.debug({ event: 'twilio_status_ignored', account: deps.accountId, status }, 'a Twilio call status that does not end the call');
  return NO_CONTENT;
}
