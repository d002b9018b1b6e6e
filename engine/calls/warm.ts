/**
 * Warm transfer, the part every phone system shares: the caller is held, a
 * new leg dials the destination, the person who answers hears a briefing
 * (the model's summary of what the caller wants) and accepts or declines
 * before the caller is connected; when nobody accepts, the caller comes back
 * to the agent. Each driver carries it out its own way (holding bridge,
 * conference, originate); this module holds what they agree on: the
 * settings with their defaults, the summary as a SIP header may carry it,
 * the briefing URL, the names of the steps and the reasons a warm transfer
 * fails. Pure: no I/O.
 *
 * A blind transfer may carry the same summary as a header (or a call
 * variable), for phones and systems that show it.
 */
import type { CallControlSettings, WarmBlock } from '../manifests/types.ts';

/** The SIP header a summary travels in (blind and warm transfers, where the phone system sets headers). */
export const SUMMARY_HEADER = 'X-Switchboard-Summary';
/** Most bytes of a summary header: a SIP message must fit its transport, and a phone's screen shows far less. */
export const SUMMARY_HEADER_MAX_BYTES = 200;
/** Most characters of the model's summary (the tool's schema bounds it). */
export const SUMMARY_MAX_LENGTH = 300;

export type TransferMode = 'blind' | 'warm';

/**
 * Steps of a warm transfer, reported through the driver's sink and recorded
 * as call events `command_<step>`: held (caller on hold), dialing, ringing,
 * answered (the target picked up), briefed (briefing played or header sent),
 * accepted, declined, bridged (caller and target together, the agent's leg
 * gone), returned (the caller back with the agent).
 */
export const WARM_STEPS = ['held', 'dialing', 'ringing', 'answered', 'briefed', 'accepted', 'declined', 'bridged', 'returned'] as const;
export type WarmStep = (typeof WARM_STEPS)[number];

/** The reasons of a warm transfer's failed verdicts, in the words the agent and the call history get. */
/**
 * Ends the reason of a failed warm transfer whose caller the phone system
 * could not take off hold. The reason is what the store keeps (any node
 * words the tool's answer from it), so the tool reads this mark to say the
 * caller may still be on hold instead of "back with you".
 */
export const CALLER_NOT_RETURNED = 'the caller could not be brought back to the agent';
export const notReturned = (reason: string, why: string): string => `${reason}; ${CALLER_NOT_RETURNED} (${why})`;
export const callerNotReturned = (reason: string): boolean => reason.includes(CALLER_NOT_RETURNED);

export const WARM_REASONS = {
  declined: 'declined after the briefing',
  hungUpDuringBriefing: 'hung up during the briefing',
  notAccepted: (seconds: number): string => `did not accept within ${seconds} seconds`,
  callerHungUp: 'the caller hung up while on hold',
  /** The end reason of a call whose caller hung up while held. */
  callEnded: 'caller hung up while on hold',
} as const;

/** DTMF of the target (accept: dtmf): 1 accepts, 2 declines; other keys are ignored. */
export const ACCEPT_DIGIT = '1';
export const DECLINE_DIGIT = '2';

/**
 * Longest a briefing may play before the driver stops waiting for its end
 * and counts it as heard: an audio URL that streams forever must not hold
 * the caller for ever.
 */
export const BRIEFING_LIMIT_MS = 60_000;
export const DEFAULT_ACCEPT_TIMEOUT_SECONDS = 10;

/** The drivers whose phone system speaks text itself (briefing: tts). events and webhook: the integrator's program decides. */
const SPEAKS_TEXT: ReadonlySet<CallControlSettings['driver']> = new Set(['esl', 'twilio', 'telnyx', 'events', 'webhook']);

/** call_control.warm with its defaults filled in. */
export interface WarmSettings {
  /** dtmf: the target presses 1 to accept, 2 to decline. stay: staying on the line until the briefing has played accepts. */
  accept: 'dtmf' | 'stay';
  /** After the briefing, how long the target has to press a key (accept: dtmf). */
  acceptTimeoutSeconds: number;
  /** tts: spoken by the phone system; url: audio from briefingUrl; header: no audio, the summary as a SIP header only. */
  briefing: 'tts' | 'url' | 'header';
  /** The URL template (with {summary}, {caller}, {call_id}, {destination}), when set. */
  briefingUrl: string | null;
  voice: string | null;
  language: string | null;
  /** Music-on-hold class, stream or URL as the phone system names it; null: the driver's default. */
  musicOnHold: string | null;
}

/** The warm block of the account's call_control, if its driver admits one. */
const warmBlockOf = (settings: CallControlSettings | undefined): WarmBlock | undefined => (settings && 'warm' in settings ? settings.warm : undefined);

/** The account's warm-transfer settings with defaults: briefing tts where the phone system speaks, else url when a URL is set, else header. */
export function warmSettingsOf(settings: CallControlSettings | undefined): WarmSettings {
  const block = warmBlockOf(settings) ?? {};
  const driver = settings?.driver ?? 'events';
  const briefingUrl = block.briefing_url ?? null;
  const briefing = block.briefing ?? (SPEAKS_TEXT.has(driver) ? 'tts' : briefingUrl ? 'url' : 'header');
  return {
    accept: block.accept ?? 'dtmf',
    acceptTimeoutSeconds: block.accept_timeout_seconds ?? DEFAULT_ACCEPT_TIMEOUT_SECONDS,
    briefing,
    briefingUrl,
    voice: block.voice ?? null,
    language: block.language ?? null,
    musicOnHold: block.music_on_hold ?? null,
  };
}

/** What a warm transfer may take beyond its ring time: the briefing and the target's answer to it. */
export const warmExtraMs = (warm: WarmSettings): number => BRIEFING_LIMIT_MS + warm.acceptTimeoutSeconds * 1000;

/** The longest warmExtraMs any manifest allows (accept_timeout_seconds at most 60). */
export const MAX_WARM_EXTRA_MS = BRIEFING_LIMIT_MS + 60_000;

/** The values a briefing URL template is filled with. */
export interface BriefingValues {
  summary: string;
  caller: string | null;
  callId: string;
  destination: string;
}

/** The briefing URL: {summary}, {caller}, {call_id} and {destination} filled in URL-encoded; other braces are left as written. */
export function briefingUrl(template: string, values: BriefingValues): string {
  const table: Record<string, string> = { summary: values.summary, caller: values.caller ?? '', call_id: values.callId, destination: values.destination };
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in table ? encodeURIComponent(table[name] as string) : whole));
}

/**
 * The summary as a SIP header value: printable ASCII only (accents folded to
 * their letters, other characters dropped), whitespace collapsed, at most
 * 200 bytes, cut on a word boundary. A header carries no line breaks or
 * control characters, whatever the model wrote.
 */
export function summaryHeaderValue(summary: string): string {
  const folded = summary
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/ {2,}/g, ' ')
    .trim();
  if (folded.length <= SUMMARY_HEADER_MAX_BYTES) return folded;
  const cut = folded.slice(0, SUMMARY_HEADER_MAX_BYTES + 1);
  const space = cut.lastIndexOf(' ');
  // A single word longer than the limit is cut where the limit falls.
  return (space > 0 ? cut.slice(0, space) : cut.slice(0, SUMMARY_HEADER_MAX_BYTES)).trim();
}
