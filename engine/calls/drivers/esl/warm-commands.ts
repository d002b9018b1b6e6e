/**
 * What a warm transfer writes into FreeSWITCH's command lines, as pure
 * functions: the caller's hold music, the summary as a `sip_h_` variable of
 * the new leg (or of the caller, for a blind transfer), and the applications
 * the answered leg runs for its briefing.
 *
 * Everything here ends up inside a line that FreeSWITCH splits itself
 * (switch_separate_string: spaces outside single quotes, commas between
 * originate variables, `|` between speak's engine, voice and text, `${...}`
 * expanded in application data), so whatever the model or the manifest wrote
 * is reduced to characters those parsers leave alone, and a value that needs
 * quoting is quoted the one way FreeSWITCH reads back unchanged.
 */
import { summaryHeaderValue, type WarmSettings } from '../../warm.ts';

/** The CUSTOM event subclass the briefing's last application fires: "the briefing has been played". */
export const WARM_EVENT_SUBCLASS = 'switchboard::warm';
/** FreeSWITCH's own default hold music ($${hold_music} in vars.xml). */
export const DEFAULT_MUSIC_ON_HOLD = 'local_stream://moh';
export const DEFAULT_TTS_ENGINE = 'flite';
/** mod_flite's voices: awb, kal, kal16, rms, slt. */
const FLITE_DEFAULT_VOICE = 'kal';
/** What the target hears with briefing: header (the summary is on their phone's screen): one short tone. */
export const BEEP = 'tone_stream://%(300,0,880)';
/** The longest text a briefing speaks: the tool's bound on the summary plus the words around it. */
const MAX_SPOKEN = 300;

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const STREAM = /^[A-Za-z0-9_./:@%+=-]{1,200}$/;
const CLASS_NAME = /^[A-Za-z0-9_.-]{1,80}$/;

/**
 * The hold music as a path `endless_playback` plays: a stream or file as
 * written (local_stream://moh, /usr/share/freeswitch/sounds/music/8000/x.wav),
 * a bare name as a local_stream class (moh -> local_stream://moh).
 */
export function holdStream(setting: string | null): Checked<string> {
  const value = setting ?? DEFAULT_MUSIC_ON_HOLD;
  if (CLASS_NAME.test(value)) return { ok: true, value: `local_stream://${value}` };
  if (STREAM.test(value) && !value.includes('::')) return { ok: true, value };
  return { ok: false, reason: `music_on_hold "${value.slice(0, 40)}" is not a stream or file FreeSWITCH can play here (no spaces, quotes or "::")` };
}

/** The summary header's value with only characters that FreeSWITCH's argument and variable parsers leave as they are. */
export function summaryVariable(summary: string | null): string {
  if (!summary) return '';
  return summaryHeaderValue(summary)
    .replace(/[^A-Za-z0-9 .,:;!?()/@#%&*+=_-]/g, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** One originate variable whose value may hold spaces and commas: `name='a value\, with a comma'`. */
export const originateVariable = (name: string, value: string): string => `${name}='${value.replace(/,/g, '\\,')}'`;

export interface BriefingApp {
  name: string;
  arg: string;
}

export interface BriefingPlan {
  /** Variables the new leg is originated with (tts_engine and tts_voice for speak). */
  variables: string[];
  /** What the leg plays once answered, before the application that reports the end of the briefing. */
  apps: BriefingApp[];
}

/** What speak says: the summary, then, when a key decides, which key does what. */
export function spokenBriefing(summary: string, accept: WarmSettings['accept']): string {
  // `|` would split speak's data into engine and voice; `$` and `\` would be read by the variable expander.
  const text = summary
    .replace(/[\p{Cc}|$\\]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_SPOKEN);
  const sentence = !text || /[.!?]$/.test(text) ? text : `${text}.`;
  return ['Call transfer.', sentence, accept === 'dtmf' ? 'Press 1 to take the call, or 2 to decline.' : ''].filter(Boolean).join(' ');
}

/**
 * The briefing as FreeSWITCH plays it. tts: `speak` with the leg's
 * tts_engine and tts_voice (flite and its voice kal unless set). url:
 * `playback` of the filled-in URL (FreeSWITCH fetches it, mod_httapi). header:
 * one beep; the summary is in the INVITE's header.
 */
export function briefingPlan(warm: WarmSettings, ttsEngine: string | undefined, summary: string, url: string | null): Checked<BriefingPlan> {
  switch (warm.briefing) {
    case 'tts': {
      const engine = ttsEngine ?? DEFAULT_TTS_ENGINE;
      const voice = warm.voice ?? (engine === DEFAULT_TTS_ENGINE ? FLITE_DEFAULT_VOICE : null);
      // speak hangs the leg up when it has no voice: refuse before anyone is dialed.
      if (!voice) return { ok: false, reason: `warm.voice is needed for the tts_engine ${engine}` };
      if (!CLASS_NAME.test(engine) || !CLASS_NAME.test(voice)) return { ok: false, reason: 'tts_engine and warm.voice must be plain names (letters, digits, "_.-")' };
      return { ok: true, value: { variables: [`tts_engine=${engine}`, `tts_voice=${voice}`], apps: [{ name: 'speak', arg: spokenBriefing(summary, warm.accept) }] } };
    }
    case 'url':
      if (!url) return { ok: false, reason: 'briefing: url needs warm.briefing_url' };
      if (!/^https?:\/\/[^\s\p{Cc}]+$/u.test(url)) return { ok: false, reason: 'the briefing URL must be an http(s) URL without spaces' };
      return { ok: true, value: { variables: [], apps: [{ name: 'playback', arg: url }] } };
    case 'header':
      return { ok: true, value: { variables: [], apps: [{ name: 'playback', arg: BEEP }] } };
  }
}

/** The application that fires the "briefing played" event, carrying the transfer's token. */
export const briefedEventApp = (token: string): BriefingApp => ({ name: 'event', arg: `Event-Name=CUSTOM,Event-Subclass=${WARM_EVENT_SUBCLASS},Switchboard-Briefing=${token}` });
