/**
 * The TwiML of a warm transfer on Twilio:
 *
 *   hold     the caller's call: <Dial><Conference> with no one to talk to
 *            yet (startConferenceOnEnter false, no beep), hearing the wait
 *            music; its events (start, end, join, leave) come to the
 *            conference callback. The caller leaving ends the conference.
 *   briefing the new leg's own TwiML, run when it answers: the summary
 *            (<Say>) or the operator's audio (<Play>), then a <Redirect> that
 *            tells Switchboard the briefing has played to its end.
 *   prompt   accept: dtmf: <Gather> one key ("Press 1 to take the call, or
 *            2 to decline"), then a <Redirect> when none came in time.
 *   join     the accepted leg into the caller's conference, starting it: the
 *            conference's start is the moment the two talk (a leg alone in a
 *            conference, the caller gone, starts nothing). It leaving ends
 *            the conference, and with it the caller's call. It names the
 *            same status callback, which counts only if it is the first one
 *            in: then the caller has left, and the leg is hung up.
 *
 * Keys pressed during the summary are not taken: the person hears what the
 * caller wants before deciding. The prompt's words are English; the
 * summary is spoken with the configured voice and language.
 */
import { attributes, escapeXml } from './twiml.ts';

const DOCUMENT = '<?xml version="1.0" encoding="UTF-8"?>';
/** Twilio's limit for TwiML given inline (the Twiml parameter). */
export const MAX_INLINE_TWIML = 4000;
export const CALLER_LABEL = 'caller';
export const TARGET_LABEL = 'target';
export const PROMPT = 'Press 1 to take the call, or 2 to decline.';
export const GONE = 'The caller is no longer waiting. Goodbye.';
/** The conference events a warm transfer follows. */
const EVENTS = 'start end join leave';

/** What the person answering hears before deciding. */
export type Briefing = { kind: 'say'; text: string; voice: string | null; language: string | null } | { kind: 'play'; url: string } | { kind: 'none' };

const say = (text: string, voice: string | null, language: string | null): string => `<Say${attributes({ voice: voice ?? undefined, language: language ?? undefined })}>${escapeXml(text)}</Say>`;
const redirect = (url: string): string => `<Redirect method="POST">${escapeXml(url)}</Redirect>`;

/** Switchboard's own words are English: they keep the configured voice only where the language is English too (or not set). */
const englishSay = (text: string, voice: string | null, language: string | null): string => (!language || /^en\b/i.test(language) ? say(text, voice, language) : say(text, null, null));

/** The caller's call, held in the conference until the destination accepts or the caller comes back to the agent. */
export function holdTwiml(conference: string, statusCallback: string, musicOnHold: string | null): string {
  const room = attributes({
    beep: 'false',
    startConferenceOnEnter: 'false',
    endConferenceOnExit: 'true',
    participantLabel: CALLER_LABEL,
    // Without music_on_hold, Twilio's own wait music (a classical playlist) plays.
    waitUrl: musicOnHold ?? undefined,
    waitMethod: musicOnHold ? 'GET' : undefined,
    statusCallback,
    statusCallbackEvent: EVENTS,
    statusCallbackMethod: 'POST',
  });
  return `${DOCUMENT}<Response><Dial><Conference${room}>${escapeXml(conference)}</Conference></Dial></Response>`;
}

/** The new leg's TwiML when it answers: the briefing, then word that it has played. */
export function briefingTwiml(briefing: Briefing, briefedUrl: string): string {
  const heard = briefing.kind === 'say' ? say(briefing.text, briefing.voice, briefing.language) : briefing.kind === 'play' ? `<Play>${escapeXml(briefing.url)}</Play>` : '';
  return `${DOCUMENT}<Response>${heard}${redirect(briefedUrl)}</Response>`;
}

/** accept: dtmf: one key within the accept timeout; without one, the timeout URL is requested. */
export function promptTwiml(timeoutSeconds: number, decisionUrl: string, timeoutUrl: string, voice: string | null, language: string | null): string {
  const gather = attributes({ input: 'dtmf', numDigits: '1', timeout: String(timeoutSeconds), action: decisionUrl, method: 'POST' });
  return `${DOCUMENT}<Response><Gather${gather}>${englishSay(PROMPT, voice, language)}</Gather>${redirect(timeoutUrl)}</Response>`;
}

/** The accepted leg joins the caller: the conference starts and the two talk. */
export function joinTwiml(conference: string, statusCallback: string): string {
  const room = attributes({
    beep: 'false',
    startConferenceOnEnter: 'true',
    endConferenceOnExit: 'true',
    participantLabel: TARGET_LABEL,
    statusCallback,
    statusCallbackEvent: EVENTS,
    statusCallbackMethod: 'POST',
  });
  return `${DOCUMENT}<Response><Dial><Conference${room}>${escapeXml(conference)}</Conference></Dial></Response>`;
}

/** To a person who answers or accepts after the transfer is over (the caller hung up, or is back with the agent). */
export const goneTwiml = (voice: string | null, language: string | null): string => `${DOCUMENT}<Response>${englishSay(GONE, voice, language)}<Hangup/></Response>`;
