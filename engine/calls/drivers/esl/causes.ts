/**
 * What FreeSWITCH's words mean for call control, as pure functions a unit
 * test can table: the result text of a bgapi job ("+OK <uuid>", "-ERR
 * USER_BUSY"), hang-up causes as transfer outcomes with a reason in words,
 * and PRESENCE_IN events as a user's Do-Not-Disturb.
 *
 * Kept apart from the socket and the driver so the mapping can be read (and
 * changed) in one place: which causes mean "busy", which "no answer", which
 * "declined", and that everything else is a failure that names its cause.
 */
import type { FailureOutcome, Verdict } from '../../types.ts';
import type { EslEvent } from './parser.ts';

/** A bgapi job's result (the BACKGROUND_JOB body) or an api answer. */
export type CommandResult = { ok: true; text: string } | { ok: false; cause: string; text: string };

const MAX_TEXT = 160;
const CAUSE = /^[A-Z][A-Z0-9_]{1,63}$/;

/** Reads "+OK ...", "-ERR <cause or words>", "-USAGE: ..." (anything else is a failure that quotes it). */
export function readResult(body: string): CommandResult {
  const text = body.replace(/\s+/g, ' ').trim().slice(0, MAX_TEXT);
  if (text.startsWith('+OK')) return { ok: true, text: text.slice(3).trim() };
  const rest = text.startsWith('-ERR') ? text.slice(4).trim() : text;
  const first = rest.split(' ')[0] ?? '';
  return { ok: false, cause: CAUSE.test(first) ? first : '', text: rest || 'no reply' };
}

const OUTCOMES: Readonly<Record<string, FailureOutcome>> = {
  USER_BUSY: 'busy',
  NO_ANSWER: 'no_answer',
  NO_USER_RESPONSE: 'no_answer',
  // What an originate ends with when its originate_timeout runs out while the destination rings.
  ORIGINATOR_CANCEL: 'no_answer',
  ALLOTTED_TIMEOUT: 'no_answer',
  CALL_REJECTED: 'rejected',
};

const WORDS: Readonly<Record<string, string>> = {
  USER_BUSY: 'the destination is busy',
  NO_ANSWER: 'nobody answered',
  NO_USER_RESPONSE: 'the phone did not respond',
  ORIGINATOR_CANCEL: 'the ring time ran out',
  ALLOTTED_TIMEOUT: 'the ring time ran out',
  CALL_REJECTED: 'the destination declined the call',
  USER_NOT_REGISTERED: "the destination's phone is not registered",
  SUBSCRIBER_ABSENT: 'the destination is not reachable',
  UNALLOCATED_NUMBER: 'no such number or extension',
  NO_ROUTE_DESTINATION: 'no route to the destination',
  INVALID_NUMBER_FORMAT: 'the number is not in a format the route accepts',
  DESTINATION_OUT_OF_ORDER: 'the destination is out of order',
  NORMAL_TEMPORARY_FAILURE: 'a temporary failure on the way to the destination',
  NORMAL_CIRCUIT_CONGESTION: 'the route to the destination is congested',
  SWITCH_CONGESTION: 'FreeSWITCH is congested',
  GATEWAY_DOWN: 'the gateway to the destination is down',
  INVALID_GATEWAY: 'the gateway in the endpoint template does not exist',
  CHAN_NOT_IMPLEMENTED: 'the endpoint type in the endpoint template is not available',
  INCOMPATIBLE_DESTINATION: 'the destination cannot take this call (no common codec)',
  RECOVERY_ON_TIMER_EXPIRE: 'the destination did not answer the signalling in time',
  OUTGOING_CALL_BARRED: 'outgoing calls to the destination are barred',
  NORMAL_CLEARING: 'the destination hung up before the call was put through',
  DESTINATION_UNREACHABLE: 'the destination is unreachable',
};

/** A transfer that did not happen, with the reason in words; `failed` unless the destination was not reached. */
export const failed = (reason: string, outcome: FailureOutcome = 'failed'): Verdict & { success: false } => ({ success: false, outcome, reason });

/** A destination that may go into a dial string as it is (an extension, a number, a user@domain part). */
export const DIAL = /^[A-Za-z0-9+*#._-]{1,64}$/;

/** A hang-up cause as a transfer's failure: busy, no answer and declined leave room for a fallback. */
export function causeVerdict(cause: string, fallbackText = ''): Verdict & { success: false; outcome: FailureOutcome } {
  const known = CAUSE.test(cause) ? cause : '';
  const outcome = (known && OUTCOMES[known]) || 'failed';
  const words = known ? WORDS[known] : undefined;
  const reason = words ? `${words}: ${known}` : known ? `FreeSWITCH: ${known}` : `FreeSWITCH: ${fallbackText || 'no reason given'}`;
  return { success: false, outcome, reason };
}

export interface PresenceNews {
  extension: string;
  dnd: boolean;
}

export interface PresenceRules {
  /** Status texts meaning DND, compared without case. */
  dndStatuses: readonly string[];
  /** Only presence of this SIP domain, when set (a multi-tenant FreeSWITCH). */
  domain?: string | undefined;
}

/**
 * A PRESENCE_IN event as a user's DND, or undefined when it says nothing
 * about DND: presence of another domain, a call's state (a phone that is in
 * use is not on DND, and saying "not DND" would clear a DND set a moment
 * before), or no status at all. A `dnd+<ext>` resource (the BLF lamp of a
 * DND key) is on while its answer-state is confirmed.
 */
export function presenceOf(event: EslEvent, rules: PresenceRules): PresenceNews | undefined {
  if (event.name !== 'PRESENCE_IN') return undefined;
  const from = (event.headers.get('from') ?? '').replace(/^sips?:/i, '').trim();
  const at = from.indexOf('@');
  const user = at < 0 ? from : from.slice(0, at);
  const domain = at < 0 ? '' : from.slice(at + 1);
  if (!user || user.length > 80) return undefined;
  if (rules.domain && domain.toLowerCase() !== rules.domain.toLowerCase()) return undefined;

  if (user.toLowerCase().startsWith('dnd+')) {
    const state = (event.headers.get('answer-state') ?? '').toLowerCase();
    if (state !== 'confirmed' && state !== 'terminated') return undefined;
    return { extension: user.slice(4), dnd: state === 'confirmed' };
  }
  if (event.headers.has('unique-id') || event.headers.has('channel-state')) return undefined;
  const said = [event.headers.get('status'), event.headers.get('rpid')].filter((value): value is string => Boolean(value?.trim()));
  if (said.length === 0) return undefined;
  const wanted = new Set(rules.dndStatuses.map((status) => status.trim().toLowerCase()));
  return { extension: user, dnd: said.some((value) => wanted.has(value.trim().toLowerCase())) };
}

/** Something FreeSWITCH may put in a command line: no spaces, quotes, braces or line breaks. */
export const SAFE_TOKEN = /^[A-Za-z0-9+*#._@:-]{1,128}$/;
/** A caller id number FreeSWITCH may put in origination_caller_id_number. */
export const SAFE_CALLER = /^\+?[0-9A-Za-z*#]{1,32}$/;
